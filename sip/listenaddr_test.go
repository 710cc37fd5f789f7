package sip

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckListenAddress: addresses a listener binds as given pass; the
// others fail with ErrListenAddress, naming the address and the reason.
func TestCheckListenAddress(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:5060", "0.0.0.0:0", "[::1]:5061", "[::]:65535", "localhost:8080"} {
		if err := CheckListenAddress(ok); err != nil {
			t.Errorf("CheckListenAddress(%q) = %v", ok, err)
		}
	}
	for bad, why := range map[string]string{
		"localhost": "want host:port", ":80:80": "want host:port", "example.com:5060": "IP address",
		":5060": "IP address", "127.0.0.1:65536": "0 to 65535", "127.0.0.1:sip": "0 to 65535", "127.0.0.1:-1": "0 to 65535",
	} {
		err := CheckListenAddress(bad)
		var le *ListenAddressError
		if !errors.Is(err, ErrListenAddress) || !strings.Contains(err.Error(), `"`+bad+`"`) || !strings.Contains(err.Error(), why) ||
			!errors.As(err, &le) || le.Address != bad || !strings.Contains(le.Reason, why) {
			t.Errorf("CheckListenAddress(%q) = %v, want ErrListenAddress naming it: %s", bad, err, why)
		}
	}
}
