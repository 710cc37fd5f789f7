package connlimit_test

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"

	"github.com/voicegw/voicegw/sip/connlimit"
)

// An HTTP server whose clients may hold at most 64 connections each, and
// 1,024 together.
func ExampleNewListener() {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	l := connlimit.NewListener(inner, connlimit.Config{MaxConns: 1024, MaxConnsPerSource: 64})
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(l)
	defer srv.Close()
	fmt.Println(l.Refused())
	// Output: 0
}

// A protocol server counting its connections itself.
func ExampleCounter() {
	c := connlimit.NewCounter(connlimit.Limits{PerSource: 1})
	a := connlimit.Source(netip.MustParseAddr("2001:db8:5:6::1"))
	b := connlimit.Source(netip.MustParseAddr("2001:db8:5:6::2")) // the same /64
	fmt.Println(a, c.Acquire(a))
	fmt.Println(b, c.Acquire(b))
	c.Release(a)
	fmt.Println(c.Acquire(b))
	// Output:
	// 2001:db8:5:6::/64 <nil>
	// 2001:db8:5:6::/64 connlimit: too many connections from the source
	// <nil>
}
