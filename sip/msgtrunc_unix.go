//go:build unix

package sip

import "syscall"

// msgTrunc is the recvmsg flag of a datagram longer than the buffer.
const msgTrunc = syscall.MSG_TRUNC
