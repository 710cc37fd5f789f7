package sip_test

import (
	"errors"
	"fmt"

	"github.com/voicegw/voicegw/sip"
)

// Check a configuration's listen address before binding anything.
func ExampleCheckListenAddress() {
	fmt.Println(sip.CheckListenAddress("0.0.0.0:5060"))
	fmt.Println(sip.CheckListenAddress("sip.example.com:5060"))
	// Output:
	// <nil>
	// sip: bad listen address "sip.example.com:5060": the host must be an IP address (or localhost)
}

// Report a bad listen address under a configuration's own key: the
// error's Address and Reason, without the package's prefix.
func ExampleListenAddressError() {
	var le *sip.ListenAddressError
	if err := sip.CheckListenAddress("localhost"); errors.As(err, &le) {
		fmt.Printf("sip.listen: %q: %s\n", le.Address, le.Reason)
	}
	// Output: sip.listen: "localhost": want host:port
}
