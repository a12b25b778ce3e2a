/* Shared helpers for the corpus BPF programs (not a corpus case itself). */
#ifndef BPFSKEL_CORPUS_COMMON_BPF_H
#define BPFSKEL_CORPUS_COMMON_BPF_H

/* Read the first byte of a global through a volatile pointer so that the
 * compiler has to keep the variable (and its section) in the object. */
#define CORPUS_USE(acc, v) ((acc) += *(volatile const unsigned char *)&(v))

char LICENSE[] SEC("license") = "GPL";

#endif
