/* Identifiers that are awkward in Python/ctypes: Python keywords,
 * ctypes-reserved attribute names, '$', names clashing after mangling,
 * structs named after sections, typedef aliases. */
#ifndef BPFSKEL_CORPUS_NAMES_H
#define BPFSKEL_CORPUS_NAMES_H

#include <linux/types.h>

/* Python keywords/soft keywords/constants that are plain C identifiers */
struct kw {
	int in;
	int class;
	int from;
	int None;
	int True;
	int False;
	int def;
	int is;
	int pass;
	int lambda;
	int import;
	int yield;
	int not;
	int and;
	int or;
	int with;
	int del;
	int global;
	int nonlocal;
	int assert;
	int async;
	int await;
	int except;
	int finally;
	int raise;
	int try;
	int elif;
	int as;
	int match;
	int type;
	int self;
	int class_;      /* collides with a naive keyword mangling of 'class' */
	int in_;
};

/* ctypes machinery names */
struct ctypes_names {
	__u32 _fields_;
	__u32 _pack_;
	__u32 _anonymous_;
	__u32 _align_;
	__u32 _type_;
	__u32 _length_;
	__u32 _objects;
	__u32 _b_base_;
	__u32 _b_needsfree_;
	__u32 _swappedbytes_;
	__u32 __dict__;
	__u32 __class__;
	__u32 __init__;
	__u32 from_buffer;
	__u32 value;
};

/* '$' in identifiers (GNU extension, accepted by gcc and clang) */
struct dollar {
	int a$b;
	int $lead;
	int trail$;
};

/* structs named like skeleton sections / common module names */
struct data { __u32 data; __u8 bss; };
struct bss { struct data data; __u16 rodata; };
struct rodata { __u64 x; };
struct maps { __u32 maps; };

/* a tag and a typedef with the same name but different types */
struct dup { __u32 x; __u8 y; };
typedef __u16 dup;

/* typedef aliases */
struct foo { __u32 a; __u64 b; };
typedef struct foo foo_t;
typedef foo_t foo2_t;                   /* typedef of a typedef */
typedef __u32 my_u32;
typedef my_u32 my_u32_2;
typedef struct { int a; } anon_td;
typedef union { __u32 x; float f; } anon_union_td;
typedef const volatile __u16 cv_u16;
typedef struct foo *foo_ptr;

struct uses_typedefs {
	foo_t f;
	foo2_t f2;
	my_u32 u;
	my_u32_2 u2;
	anon_td a;
	anon_union_td au;
	cv_u16 cv;
	const __u32 c;
	volatile __u64 v;
	foo_ptr p;
	dup d;
	struct dup sd;
};

/* a very long member name */
struct long_names {
	__u32 a_rather_long_member_name_that_keeps_going_and_going_and_going_well_past_any_reasonable_length_limit_0123456789;
	__u8 x;
};

#endif
