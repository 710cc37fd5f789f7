package media_test

import (
	"fmt"
	"log"

	"github.com/voicegw/voicegw/media"
)

// Read a configuration's RTP port range and make the pool from it.
func ExampleParsePortRange() {
	lo, hi, err := media.ParsePortRange("20000-20009")
	if err != nil {
		log.Fatal(err)
	}
	pool, err := media.NewPortPool(media.PortPoolConfig{MinPort: lo, MaxPort: hi})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(pool.Size())
	_, _, err = media.ParsePortRange("20000")
	fmt.Println(err)
	// Output:
	// 5
	// media: bad port range "20000": want MIN-MAX, like 20000-39999
}
