package sip_test

import (
	"fmt"

	"github.com/voicegw/voicegw/sip"
)

// Read the digest algorithms of a configuration, naming each bad entry.
func ExampleParseAlgorithms() {
	algs, err := sip.ParseAlgorithms([]string{"MD5", "sha-256"})
	fmt.Println(algs, err)
	_, err = sip.ParseAlgorithms([]string{"MD5", "SHA-1", "md5"})
	for _, e := range sip.AlgorithmErrors(err) {
		fmt.Printf("algorithms[%d] %q: %s\n", e.Index, e.Name, e.Reason)
	}
	// Output:
	// [MD5 SHA-256] <nil>
	// algorithms[1] "SHA-1": want MD5, SHA-256 or SHA-512-256
	// algorithms[2] "md5": given twice
}
