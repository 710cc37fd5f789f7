//go:build !linux

package media

import (
	"errors"
	"net/netip"
)

// Without Linux's epoll a Poller has no workers and each Receiver reads its
// own socket (through Go's network poller).

type pollState struct{}

type pollWorker struct{}

// rawSocket is never made here: Endpoints keep their net.UDPConn.
type rawSocket struct{}

func (*rawSocket) writeTo([]byte, netip.AddrPort) (int, error) { return 0, ErrClosed }

func (*rawSocket) close() error { return nil }

func (p *Poller) native() bool { return false }

func (p *Poller) start(int) error { return nil }

func (p *Poller) stop() {}

func (p *Poller) register(*Receiver) (bool, error) { return false, nil }

func (p *Poller) deregister(*Receiver) error { return nil }

type steerer struct{}

func (*steerer) close() {}

func (p *Poller) startSteering() (*steerer, error) {
	return nil, errors.ErrUnsupported
}
