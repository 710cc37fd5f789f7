package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/rbac/secret"
)

// Playback of recordings through the Insights API (insights.PlaybackConfig):
// every session document the API returns with an audio_url also has a
// channel_data.playback_url that a browser plays without credentials until
// it expires — the bucket's signed URL where the bucket signs (S3, GCS,
// Azure), else a link to /insights/recordings/… signed with the playback
// secret, served from the account's bucket with HTTP Range support.

// playbackSecretFile is the default playback secret file (under data_dir):
// copy it to every gateway of a shared database, so that a link made by one
// plays on any of them.
const playbackSecretFile = "secrets/playback-link-secret"

// minPlaybackSecret is the shortest playback secret accepted, in characters.
const minPlaybackSecret = 32

// PlaybackConfig configures the playback links of the Insights API.
type PlaybackConfig struct {
	// Expiry is how long a playback link works (insights.PlaybackConfig.Expiry),
	// at most 7 days.
	Expiry time.Duration `yaml:"expiry"`
	// BaseURL is the URL browsers reach this gateway's HTTP server at
	// ("https://gw.example.com"); default the request's scheme and Host.
	BaseURL string `yaml:"base_url"`
	// Proxy makes every link point at the gateway's recording endpoint,
	// even for buckets that sign URLs (buckets browsers cannot reach).
	Proxy bool `yaml:"proxy"`
	// Secret signs the links to the recording endpoint; default: a random
	// secret kept in DATA_DIR/secrets/playback-link-secret (mode 0600),
	// made on the first start. Every gateway of a shared database needs
	// the same one.
	Secret secret.String `yaml:"secret"`
}

// playbackProblems checks the playback keys.
func (c *Config) playbackProblems(add func(key, format string, args ...any)) {
	p := c.Playback
	if p.Expiry < time.Second || p.Expiry > insights.MaxPlaybackExpiry {
		add("playback.expiry", "%s: want 1s to %s", p.Expiry, insights.MaxPlaybackExpiry)
	}
	if p.BaseURL != "" && !strings.HasPrefix(p.BaseURL, "http://") && !strings.HasPrefix(p.BaseURL, "https://") {
		add("playback.base_url", "%q: want an http:// or https:// URL", p.BaseURL)
	}
	if s := p.Secret.Reveal(); s != "" && len(s) < minPlaybackSecret {
		add("playback.secret", "want at least %d characters", minPlaybackSecret)
	}
}

// playbackConfig returns the Insights API's playback over the recording
// server's buckets (srs.Server.Recordings).
func (g *Gateway) playbackConfig() (*insights.PlaybackConfig, error) {
	sec := g.cfg.Playback.Secret
	if sec.IsZero() {
		var err error
		if sec, err = secret.File(g.cfg.path(playbackSecretFile), minPlaybackSecret); err != nil {
			return nil, fmt.Errorf("playback: %w", err)
		}
	}
	return &insights.PlaybackConfig{
		Recordings: g.srs.Recordings(),
		Secret:     sec,
		Expiry:     g.cfg.Playback.Expiry,
		BaseURL:    g.cfg.Playback.BaseURL,
		Proxy:      g.cfg.Playback.Proxy,
	}, nil
}
