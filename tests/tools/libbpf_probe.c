/* Open (and optionally load) a BPF object with the system libbpf and report
 * the outcome.  Used to record which corpus objects libbpf accepts.
 *
 *   gcc -O2 -o libbpf_probe libbpf_probe.c -lbpf
 *   ./libbpf_probe [--load] X.bpf.o...
 *
 * Exit status: 0 if every object succeeded, 1 otherwise.
 */
#include <stdio.h>
#include <string.h>
#include <stdarg.h>
#include <bpf/libbpf.h>

static int verbose;

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
	int load = 0, failed = 0;
	unsigned int major = libbpf_major_version(), minor = libbpf_minor_version();

	libbpf_set_print(print_fn);
	printf("libbpf %u.%u (%s)\n", major, minor, libbpf_version_string());
	for (int i = 1; i < argc; i++) {
		struct bpf_object *obj;
		struct bpf_map *map;
		int err;

		if (!strcmp(argv[i], "--load")) { load = 1; continue; }
		if (!strcmp(argv[i], "-v")) { verbose = 1; continue; }
		obj = bpf_object__open_file(argv[i], NULL);
		err = libbpf_get_error(obj);
		if (err) {
			printf("%s: OPEN FAILED: %s\n", argv[i], strerror(-err));
			failed = 1;
			continue;
		}
		printf("%s: opened; maps:", argv[i]);
		bpf_object__for_each_map(map, obj)
			printf(" %s(%u)", bpf_map__name(map), bpf_map__value_size(map));
		printf("\n");
		if (load) {
			err = bpf_object__load(obj);
			printf("%s: %s%s\n", argv[i], err ? "LOAD FAILED: " : "loaded",
			       err ? strerror(-err) : "");
			failed |= err != 0;
		}
		bpf_object__close(obj);
	}
	return failed;
}
