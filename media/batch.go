package media

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
)

// BatchWriter is a PacketWriter that sends many datagrams with one system
// call: WriteToUDPAddrPort queues a copy of the datagram, and Flush sends
// everything queued, to as many destinations as there are, with sendmmsg on
// Linux (elsewhere it sends each queued datagram in turn). A program that
// sends thousands of streams from one socket, as a SIPREC recording client
// forking many calls does every 20 ms, then pays one system call per batch
// instead of one per packet (BenchmarkSenderBatch against
// BenchmarkSenderUDP: about a third of the CPU per packet on loopback).
//
// Queued datagrams are sent when the batch is full and at Flush: call Flush
// after each round of writes. Errors of a datagram sent in a batch are
// reported by the Flush (or the write) that sent it; a datagram the socket
// refuses (such as one to an unreachable address) is skipped, the rest of
// the batch is sent. Writes do not allocate. A BatchWriter is safe for
// concurrent use.
type BatchWriter struct {
	conn *net.UDPConn
	rc   syscall.RawConn

	mu    sync.Mutex
	slab  []byte // the queued datagrams, one after the other
	queue []queued
	err   error // the first failure since the last Flush
	batchState
}

// queued is one datagram in the slab.
type queued struct {
	off, n int
	to     netip.AddrPort
}

// Batch limits: at most batchDatagrams datagrams or batchBytes bytes are
// queued before a write sends them.
const (
	batchDatagrams = 1024 // UIO_MAXIOV, the most sendmmsg takes
	batchBytes     = 256 << 10
)

// NewBatchWriter returns a BatchWriter sending from conn, which it does not
// close.
func NewBatchWriter(conn *net.UDPConn) (*BatchWriter, error) {
	if conn == nil {
		return nil, fmt.Errorf("%w: nil conn", ErrInvalidConfig)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("media: batch writer: %w", err)
	}
	b := &BatchWriter{conn: conn, rc: rc, slab: make([]byte, 0, batchBytes), queue: make([]queued, 0, batchDatagrams)}
	b.init()
	return b, nil
}

// LocalAddr returns the socket's local address.
func (b *BatchWriter) LocalAddr() net.Addr { return b.conn.LocalAddr() }

// WriteToUDPAddrPort queues a copy of p for addr and returns len(p); when
// the batch is full it is sent first, and the error is that send's.
func (b *BatchWriter) WriteToUDPAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	if len(p) > batchBytes {
		return 0, fmt.Errorf("%w: datagram of %d bytes", ErrInvalidConfig, len(p))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	if len(b.queue) == cap(b.queue) || len(b.slab)+len(p) > cap(b.slab) {
		err = b.flush()
	}
	off := len(b.slab)
	b.slab = append(b.slab, p...)
	b.queue = append(b.queue, queued{off: off, n: len(p), to: addr})
	return len(p), err
}

// Flush sends every queued datagram and returns the first error since the
// last Flush.
func (b *BatchWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flush()
}

// Queued returns the number of datagrams waiting for Flush.
func (b *BatchWriter) Queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// flush sends the queue; b.mu is held.
func (b *BatchWriter) flush() error {
	if len(b.queue) > 0 {
		b.send()
	}
	b.slab, b.queue = b.slab[:0], b.queue[:0]
	err := b.err
	b.err = nil
	return err
}

// fail records the first failure of a send.
func (b *BatchWriter) fail(to netip.AddrPort, err error) {
	if b.err == nil {
		b.err = &net.OpError{Op: "write", Net: "udp", Source: b.conn.LocalAddr(), Addr: net.UDPAddrFromAddrPort(to), Err: err}
	}
}
