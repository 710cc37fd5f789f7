package sip_test

import (
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
