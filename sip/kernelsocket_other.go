//go:build !linux

package sip

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// kernelSocket is Linux only: elsewhere a PacketConn's readers use Go's
// network poller.
type kernelSocket struct{ reads, sends atomic.Uint64 }

func newKernelSocket(*net.UDPConn, int) *kernelSocket { return nil }

type kernelReader struct{}

// kernelSlot is unused elsewhere than on Linux.
const kernelSlot = 65536

// kernelBatch is unused elsewhere than on Linux.
const kernelBatch = 1

func (*kernelSocket) newReader() *kernelReader { return nil }

func (*kernelReader) recv() ([]byte, netip.AddrPort, error) {
	return nil, netip.AddrPort{}, net.ErrClosed
}
func (*kernelSocket) send([]byte, netip.AddrPort) error  { return net.ErrClosed }
func (*kernelReader) queue([]byte, netip.AddrPort) error { return net.ErrClosed }
func (*kernelReader) sendFailures() (int, error)         { return 0, nil }
func (*kernelReader) flush()                             {}
func (*kernelSocket) close() bool                        { return false }
func (*kernelSocket) readerDone()                        {}
