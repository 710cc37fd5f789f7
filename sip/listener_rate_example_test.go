package sip_test

import (
	"fmt"
	"net"

	"github.com/voicegw/voicegw/sip"
)

// A source may open NewConnBurst connections at once, then NewConnRate a
// second; past that its new connections are closed at accept, before any
// TLS handshake or read, and counted (EventOverRate, ListenerStats.OverRate).
// Here one a minute after a burst of two: the third connection is closed.
func ExampleListenerConfig_newConnRate() {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	l := sip.NewListener(inner, sip.ListenerConfig{NewConnRate: 1.0 / 60, NewConnBurst: 2})
	defer l.Close()
	go func() { // sipgo.Server.ServeTCP(l) in a program
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close() // served, in a program
		}
	}()
	for i := 1; i <= 3; i++ {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		if i == 3 {
			_, err = c.Read(make([]byte, 1))
			fmt.Println("third connection:", err)
		}
	}
	s := l.Stats()
	fmt.Println("accepted:", s.Accepted, "over the rate:", s.OverRate)
	// Output:
	// third connection: EOF
	// accepted: 2 over the rate: 1
}
