package fdlimit_test

import (
	"fmt"

	"github.com/voicegw/voicegw/sip/fdlimit"
)

// A program raises its limit at start and caps its connections below it.
func ExampleRaise() {
	lim, err := fdlimit.Raise()
	if err != nil {
		lim = fdlimit.Limits{Soft: 1024, Hard: 1024} // unknown: assume the common default
	}
	maxConns := fdlimit.ConnBudget(lim, 64)
	fmt.Println(maxConns > 0)
	// Output: true
}

// A library reads the limit (it never changes it) to keep its own cap
// within it.
func ExampleGet() {
	maxConns := 4096
	if lim, err := fdlimit.Get(); err == nil && lim.Soft > 0 {
		maxConns = min(maxConns, fdlimit.ConnBudget(lim, int(lim.Soft/2)))
	}
	fmt.Println(maxConns > 0)
	// Output: true
}

// The budget is the soft limit less the descriptors kept for everything
// else (files, databases, RTP sockets).
func ExampleConnBudget() {
	fmt.Println(fdlimit.ConnBudget(fdlimit.Limits{Soft: 65536, Hard: 65536}, 1024))
	// Output: 64512
}
