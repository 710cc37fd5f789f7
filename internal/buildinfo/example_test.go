package buildinfo_test

import (
	"fmt"

	"github.com/voicegw/voicegw/internal/buildinfo"
)

// A program prints its build with -version; the version comes from its
// linker flags (go build -ldflags "-X main.version=v1.2.3 -X main.commit=...").
func ExampleRead() {
	in := buildinfo.Read("v1.2.3", "")
	fmt.Println(in.Version)
	// Output: v1.2.3
}
