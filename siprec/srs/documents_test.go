package srs

import (
	"strings"
	"testing"

	"github.com/voicegw/voicegw/insights"
)

// The status code of seed 004 says what happened: successful only when the
// call ended by BYE and its recording is (or is on its way to be) in the
// bucket at the first try.
func TestStatus(t *testing.T) {
	failing := upload{inSpool: true, attempts: 3, lastError: "dial tcp: connection refused", reason: "endpoint unreachable"}
	for _, tc := range []struct {
		name      string
		in        statusInput
		code      int
		recStatus string
		reasonHas string
	}{
		{"bye, uploading", statusInput{endReason: "bye", recorded: true, upload: upload{inSpool: true, attempts: 1}}, 0, "uploading", ""},
		{"bye, uploaded", statusInput{endReason: "bye", recorded: true, upload: upload{attempts: 1}}, 0, "uploaded", ""},
		{"bye, not recorded", statusInput{endReason: "bye"}, 0, "", ""},
		{"media timeout", statusInput{endReason: "media-timeout", recorded: true}, 100, "uploaded", "ended by media-timeout"},
		{"interrupted, repaired", statusInput{endReason: "interrupted", recorded: true, details: CallDetails{Repaired: true}}, 100, "uploaded", "repaired"},
		{"hangup", statusInput{endReason: "hangup", recorded: true}, 200, "uploaded", "ended by hangup"},
		{"upload failing", statusInput{endReason: "bye", recorded: true, upload: failing}, 200, "upload_failing", "upload failing (3 tries): endpoint unreachable"},
		{"landed late", statusInput{endReason: "bye", recorded: true, upload: upload{attempts: 4}}, 100, "uploaded", "uploaded late, after 4 tries"},
		{"landed after the document said failing", statusInput{endReason: "bye", recorded: true, upload: upload{attempts: 1}, wasFailing: true}, 100, "uploaded", "late"},
		{"not handed to the spool", statusInput{endReason: "bye", recorded: true, details: CallDetails{Unspooled: true}, unspooledWaiting: true}, 200, "upload_failing", "spool"},
		{"handed over since", statusInput{endReason: "bye", recorded: true, details: CallDetails{Unspooled: true}}, 0, "uploaded", ""},
		{"recording failed", statusInput{endReason: "bye", recorded: true, details: CallDetails{RecordingError: "disk full"}}, 200, "failed", "recording failed: disk full"},
		{"recording missing", statusInput{endReason: "interrupted", recorded: true, details: CallDetails{Missing: true}}, 200, "failed", "missing"},
		{"shutdown and failing", statusInput{endReason: "shutdown", recorded: true, upload: failing}, 200, "upload_failing", "ended by shutdown; upload failing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, reason, rs := status(tc.in)
			if code != tc.code || rs != tc.recStatus || !strings.Contains(reason, tc.reasonHas) || (code == insights.StatusCodeOK) != (reason == "") {
				t.Fatalf("status = %d %q %q; want %d, %q, a reason with %q", code, reason, rs, tc.code, tc.recStatus, tc.reasonHas)
			}
		})
	}
}
