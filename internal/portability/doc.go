// Package portability holds only a test: the module builds for the
// platforms Go developers import it on, not only the Linux it is tested on
// (build tags, system call numbers and struct field types differ).
package portability
