//go:build !siprecserver

package main

import (
	"context"
	"fmt"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/sip"
)

// srs is the SIP side of the gateway. (Placeholder until siprec.Server is
// on main: every SIPREC INVITE that passes the Guard gets 503.)
type srs struct {
	g   *Gateway
	ua  *sipgo.UserAgent
	srv *sipgo.Server
}

func (g *Gateway) newSRS() (*srs, error) {
	ua, srv, err := newSIPServer(g.log)
	if err != nil {
		return nil, err
	}
	return &srs{g: g, ua: ua, srv: srv}, nil
}

func (s *srs) serve(ctx context.Context, errc chan<- error) error {
	h := s.g.guarded(func(ctx context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		if req.IsAck() {
			return
		}
		code := 503
		if req.Method == sipgosip.OPTIONS {
			code = 200
		}
		_ = tx.Respond(sipgosip.NewResponseFromRequest(req, code, "", nil))
	})
	for _, m := range []sipgosip.RequestMethod{sipgosip.INVITE, sipgosip.ACK, sipgosip.BYE, sipgosip.CANCEL, sipgosip.OPTIONS} {
		s.srv.OnRequest(m, sip.Handler(h).Sipgo(ctx))
	}
	if s.g.sipUDP != nil {
		go func() { errc <- fmt.Errorf("sip udp: %w", s.srv.ServeUDP(s.g.sipUDP)) }()
	}
	if s.g.sipTCP != nil {
		go func() { errc <- fmt.Errorf("sip tcp: %w", s.srv.ServeTCP(s.g.sipTCP)) }()
	}
	return nil
}

func (s *srs) shutdown(ctx context.Context) int { return 0 }

func (s *srs) close() { _ = s.ua.Close() }

func (s *srs) activeSessions() int { return 0 }
