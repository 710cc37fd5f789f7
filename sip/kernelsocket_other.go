//go:build !linux

package sip

import (
	"net"
	"net/netip"
)

// kernelSocket is Linux only: elsewhere a PacketConn's readers use Go's
// network poller.
type kernelSocket struct{}

func newKernelSocket(*net.UDPConn, int) *kernelSocket { return nil }

func (*kernelSocket) recv([]byte) (int, netip.AddrPort, error) {
	return 0, netip.AddrPort{}, net.ErrClosed
}
func (*kernelSocket) send([]byte, netip.AddrPort) error { return net.ErrClosed }
func (*kernelSocket) close() bool                       { return false }
func (*kernelSocket) readerDone()                       {}
