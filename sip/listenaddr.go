package sip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// ErrListenAddress is matched by the error of CheckListenAddress.
var ErrListenAddress = errors.New("sip: bad listen address")

// ListenAddressError is CheckListenAddress's error: Address is the value
// checked, Reason what is wrong with it. It matches ErrListenAddress.
type ListenAddressError struct {
	Address, Reason string
}

func (e *ListenAddressError) Error() string {
	return fmt.Sprintf("%s %q: %s", ErrListenAddress, e.Address, e.Reason)
}

// Unwrap makes the error match ErrListenAddress.
func (e *ListenAddressError) Unwrap() error { return ErrListenAddress }

// CheckListenAddress returns nil when s is an address a listener can bind
// as given, without a name lookup: host:port whose host is an IP address
// (0.0.0.0 or [::] for every address) or localhost, and whose port is 0
// (the system picks one) to 65535. Otherwise its error is a
// *ListenAddressError naming s and what is wrong (matching
// ErrListenAddress), for a configuration's listen keys to be checked
// before anything is bound.
func CheckListenAddress(s string) error {
	host, port, err := net.SplitHostPort(s)
	why := ""
	if err != nil {
		why = "want host:port"
	} else if _, err := netip.ParseAddr(host); err != nil && host != "localhost" {
		why = "the host must be an IP address (or localhost)"
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		why = "the port must be 0 to 65535"
	}
	if why != "" {
		return &ListenAddressError{Address: s, Reason: why}
	}
	return nil
}
