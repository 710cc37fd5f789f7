package sip

import (
	"bytes"
	"net/netip"
	"strconv"
	"sync"

	sipgosip "github.com/emiago/sipgo/sip"
)

// statelessTx is the server transaction a PacketConn gives its Stateless
// handlers: no state, no timer, no goroutine. Respond writes the answer
// once, to where sipgo's transport would send it; the transaction is done
// from the start and never yields an ACK or a CANCEL.
type statelessTx struct {
	p   *PacketConn
	req *sipgosip.Request
	src netip.AddrPort // the datagram's source, as read

	mu sync.Mutex
	// kr is the reader running the handler, while it runs (Linux, with
	// BatchStateless): an answer then leaves with its batch's
	// (PacketConn.answer). Nil once the handler returned.
	kr *kernelReader
	// queued: an answer was queued on kr; final: a final (2xx–6xx) one
	// was given.
	queued, final bool
}

var _ sipgosip.ServerTransaction = (*statelessTx)(nil)

// Respond sends res once: at once, or while the handler runs on its
// reader with the other answers of the reader's batch
// (PacketConnConfig.BatchStateless). Over
// sipgo's UDP size limit (UDPMTUSize less 200 bytes) it fails with
// sipgo's ErrUDPMTUCongestion, as sipgo does.
func (tx *statelessTx) Respond(res *sipgosip.Response) error {
	bp := tx.p.getBuf(0)
	defer tx.p.putBuf(bp)
	b := bytes.NewBuffer((*bp)[:0])
	res.StringWrite(b)
	*bp = b.Bytes()[:0]
	if b.Len() > sipgosip.UDPMTUSize-200 {
		return sipgosip.ErrUDPMTUCongestion
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.queued = tx.queued || tx.kr != nil
	tx.final = tx.final || res.StatusCode >= 200
	return tx.p.answer(tx.kr, b.Bytes(), responseDestination(tx.req, tx.src))
}

// Acks never yields: a stateless server does not see ACKs of its answers.
func (tx *statelessTx) Acks() <-chan *sipgosip.Request { return nil }

// OnCancel reports false: the transaction is over.
func (tx *statelessTx) OnCancel(sipgosip.FnTxCancel) bool { return false }

// Terminate does nothing: there is nothing to end.
func (tx *statelessTx) Terminate() {}

// OnTerminate reports false: the transaction is over.
func (tx *statelessTx) OnTerminate(sipgosip.FnTxTerminate) bool { return false }

// Done is closed.
func (tx *statelessTx) Done() <-chan struct{} { return tx.p.over }

// Err is nil.
func (tx *statelessTx) Err() error { return nil }

// responseDestination is where sipgo sends an answer to req, received
// from src over UDP (RFC 3261 §18.2.2, RFC 3581 §4): the source address,
// at the source port when the top Via has an empty rport, else at its
// rport value, its sent-by port, or 5060.
func responseDestination(req *sipgosip.Request, src netip.AddrPort) netip.AddrPort {
	port := uint16(sipgosip.DefaultUdpPort)
	via := req.Via()
	if via == nil {
		return src
	}
	if via.Port > 0 && via.Port <= 65535 {
		port = uint16(via.Port)
	}
	if v, ok := via.Params.Get("rport"); ok {
		if v == "" {
			port = src.Port()
		} else if n, err := strconv.ParseUint(v, 10, 16); err == nil && n > 0 {
			port = uint16(n)
		}
	}
	return netip.AddrPortFrom(src.Addr(), port)
}
