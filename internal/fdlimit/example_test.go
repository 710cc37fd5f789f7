package fdlimit_test

import (
	"fmt"

	"github.com/voicegw/voicegw/internal/fdlimit"
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
