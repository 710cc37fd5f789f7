package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/console"
)

// The console (tenancy/admin/console) at /console/: the operators' pages,
// every one a call of the admin API or the Insights API made in-process as
// the signed-in member, over the same stores and with the same failure
// limiter as the APIs the gateway serves. Members and their Argon2id
// password hashes live in state.db (rbac/sqlitestore's member store is an
// rbac.PasswordDriver).

// demoMemberEmail is the console member a first start makes for the demo
// account, and prints the password of once.
const demoMemberEmail = "admin@demo.voicegw.test"

// insightsConfig returns the configuration of the Insights API, shared by
// /insights/ and the console: every key's principal, accounts' service
// providers, the shared failure limiter.
func (g *Gateway) insightsConfig() insights.HandlerConfig {
	return insights.HandlerConfig{
		Index:      g.st.index,
		Keys:       g.st.keys, // every key's principal, with its service type's privileges
		Accounts:   g.srs.TenantCache(),
		FailedKeys: g.failed,
		Logger:     requestLog(g.log, "insights"),
	}
}

// newConsole builds the console on the admin API's configuration and the
// Insights API's. Failed sign-ins count in the failure limiter the APIs
// share, by source address.
func (g *Gateway) newConsole(acfg admin.Config, icfg insights.HandlerConfig) (*console.Console, error) {
	acfg.Logger = requestLog(g.log, "console-admin")
	return console.New(console.Config{
		Admin:         acfg,
		Insights:      icfg,
		Playback:      console.StoredPlayback{Open: g.openRecording},
		FailedSignIns: g.failed,
		Logger:        requestLog(g.log, "console"),
	})
}

// openRecording opens, for the console's player and download link, the
// recording of a session the Insights API has just shown the member: the
// object of its audio_url in its account's bucket (siprec/srs.Recordings,
// which refuses a key outside the account), read with one ranged read from
// wherever the player seeks.
func (g *Gateway) openRecording(ctx context.Context, doc *console.SessionDocument) (io.ReadSeekCloser, time.Time, error) {
	account, key := doc.AccountID, doc.ChannelData.AudioURL
	recs := g.srs.Recordings()
	info, err := recs.StatRecording(ctx, account, key)
	if errors.Is(err, insights.ErrNotFound) {
		return nil, time.Time{}, fmt.Errorf("%w: %v", console.ErrNoRecording, err)
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	return &bucketReader{ctx: ctx, recs: recs, account: account, key: key, size: info.Size}, info.ModTime, nil
}

// bucketReader is an io.ReadSeekCloser over a recording in a bucket: a
// Read after a Seek opens a ranged read from the new offset.
type bucketReader struct {
	ctx          context.Context // the player's request
	recs         *srs.Recordings
	account, key string
	size, off    int64
	rc           io.ReadCloser // open at off, or nil
}

func (b *bucketReader) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	if b.rc == nil {
		rc, err := b.recs.ReadRecording(b.ctx, b.account, b.key, b.off, -1)
		if err != nil {
			return 0, err
		}
		b.rc = rc
	}
	n, err := b.rc.Read(p)
	b.off += int64(n)
	return n, err
}

func (b *bucketReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += b.off
	case io.SeekEnd:
		offset += b.size
	}
	if offset < 0 {
		return 0, errors.New("recording: seek before the start")
	}
	if offset != b.off && b.rc != nil {
		_ = b.rc.Close()
		b.rc = nil
	}
	b.off = offset
	return offset, nil
}

func (b *bucketReader) Close() error {
	if b.rc == nil {
		return nil
	}
	return b.rc.Close()
}

// ensureDemoMember makes, on the start that made the demo account, a
// console member of it with every privilege of the account and a generated
// password, which welcome.go prints once (console.FirstSignIn: only its
// Argon2id hash is kept). Later starts make nothing and print nothing.
func (g *Gateway) ensureDemoMember(ctx context.Context) error {
	if g.demo == nil {
		return nil
	}
	pw, created, err := console.FirstSignIn(ctx, g.st.members, console.FirstMember{Email: demoMemberEmail, Account: string(g.demo.Account.SID)})
	if err != nil {
		return fmt.Errorf("demo console member: %w", err)
	}
	if created {
		g.demo.ConsoleEmail, g.demo.ConsolePassword = demoMemberEmail, pw
	}
	return nil
}
