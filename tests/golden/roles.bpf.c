// Golden case "roles": identifiers assigned once, and roles as data.  Maps and
// programs whose names collide once sanitized ('$'), items named like
// Namespace fields, C members named like bpfskel's bookkeeping or like its
// storage fields, arrays of enums and of _Bool, and a section that ends in an
// __int128 (storage, which a resize must not stretch).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define ARRAY(name, n)                                  \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_ARRAY);       \
		__uint(max_entries, n);                 \
		__type(key, __u32);                     \
		__type(value, __u64);                   \
	} name SEC(".maps")

ARRAY(a$b, 2);
ARRAY(a_b, 3);
ARRAY(_kind, 4);

enum mode { OFF, ON };

struct bookkeeping {
	__u32 _accessors_;
	__u32 flag:3;
	__u32 _members_;
	enum mode _enums_;
	__u8 _freeze_;
};

struct storage_like {
	__u8 _pad_x;
	__u32 _size;
	__u16 _bits_y;
	__u64 _int128_z;
	__u8 low:4;
	__int128 wide;
};

struct bookkeeping book;
struct storage_like like;
enum mode modes[3];
_Bool bools[2][2];
__u32 i128_n SEC(".data.i128") = 1;
__int128 i128_tail SEC(".data.i128") = 2;

SEC("syscall")
int p$q(void *ctx)
{
	return book.flag + like._size + modes[1] + bools[1][0] + i128_n;
}

SEC("syscall")
int p_q(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
