package main

import (
	"fmt"

	"github.com/voicegw/voicegw/storage/egress"
)

// EgressConfig is the policy of the gateway's connections to addresses an
// account chooses: its bucket endpoint (S3-compatible endpoint, GCS
// endpoint and service key token endpoint, Azure connection string, bucket
// URL) and its session webhook URL, for uploads, playback links, the
// bucket Test of the admin API and the start-up bucket probe
// (storage/egress). Checked at connect time: a host name resolving to a
// refused address is refused too, and so is a redirect to one. Loopback,
// link-local (169.254.169.254: cloud metadata), unspecified, multicast
// and broadcast addresses are always refused unless allowed here.
type EgressConfig struct {
	// Allow lists what the gateway may reach even so: prefixes
	// ("10.0.0.0/8", "127.0.0.1/32"), addresses ("127.0.0.1") or
	// address:port ("127.0.0.1:9000") — a private object store (MinIO on
	// the same host), a webhook receiver on the internal network.
	// Default: none.
	Allow []string `yaml:"allow"`
	// RefusePrivate also refuses the private ranges (10/8, 172.16/12,
	// 192.168/16, 100.64/10, fc00::/7) except what Allow lists. Default
	// false: private addresses are reachable.
	RefusePrivate bool `yaml:"refuse_private"`

	parsed *egress.Policy // by parse, at validation
}

// parse makes the policy (policy returns it), reporting the allowlist's
// entries it refuses.
func (c *EgressConfig) parse() []Problem {
	var probs []Problem
	c.parsed = &egress.Policy{RefusePrivate: c.RefusePrivate}
	for i, e := range c.Allow {
		if err := c.parsed.AddAllow(e); err != nil {
			probs = append(probs, Problem{Key: fmt.Sprintf("egress.allow[%d]", i),
				Message: fmt.Sprintf("%q: want a prefix (10.0.0.0/8), an address or an address:port", e)})
		}
	}
	return probs
}

// policy returns the policy of the validated configuration.
func (c EgressConfig) policy() *egress.Policy { return c.parsed }
