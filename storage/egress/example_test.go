package egress_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/voicegw/voicegw/storage/egress"
)

// A policy for tenant-chosen URLs: the defaults refuse loopback,
// link-local (cloud metadata) and the like; the operator allows a private
// object store.
func ExamplePolicy() {
	p := &egress.Policy{RefusePrivate: true}
	if err := p.AddAllow("10.20.0.0/16"); err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range []string{"169.254.169.254:80", "[::ffff:127.0.0.1]:9000", "10.0.0.7:9000", "10.20.1.5:9000"} {
		err := p.Check(netip.MustParseAddrPort(a))
		fmt.Println(a, errors.Is(err, egress.ErrRefused))
	}
	// An HTTP client for webhooks or storage.Options.HTTPClient:
	client := p.Client(0)
	_ = client
	// Output:
	// 169.254.169.254:80 true
	// [::ffff:127.0.0.1]:9000 true
	// 10.0.0.7:9000 true
	// 10.20.1.5:9000 false
}
