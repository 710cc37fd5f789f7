//go:build !linux

package media

// batchState is empty where there is no sendmmsg: the queue is sent one
// datagram at a time.
type batchState struct{}

func (b *BatchWriter) init() {}

// send sends the queue; b.mu is held.
func (b *BatchWriter) send() {
	for _, q := range b.queue {
		if _, err := b.conn.WriteToUDPAddrPort(b.slab[q.off:q.off+q.n], q.to); err != nil && b.err == nil {
			b.err = err
		}
	}
}
