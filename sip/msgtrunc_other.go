//go:build !unix

package sip

// msgTrunc: not reported here; a datagram that fills the buffer is taken
// as cut (PacketConn).
const msgTrunc = 0
