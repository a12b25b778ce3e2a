// structops.bpf.c with its struct in SEC(".struct_ops.link") (libbpf >= 1.2):
// registered through a real bpf_link, so it can be registered again after a
// detach.
#define STRUCT_OPS_SEC ".struct_ops.link"
#include "structops.bpf.c"
