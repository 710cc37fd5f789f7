package insightstest

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
)

// CallAccount is the account of the RecordedCalls fixtures.
const CallAccount = "acct-calls"

// CallFixtures returns the recorded calls of the RecordedCalls cases (all
// on 2021-03-01 in CallAccount): what a recording server writes for SIPREC
// sessions, with every participant, vendor extension data (an Avaya UCID, a
// Cisco session GUID, an Oracle UCID with its encoding parameter), SIP
// Session-IDs, call attached data, end reasons and the recording statuses
// of seed 004's status codes (0 ok, 100 warning, 200 erroneous), and one
// call still in progress.
func CallFixtures() []*insights.Session {
	day := time.Date(2021, 3, 1, 9, 0, 0, 0, time.UTC)
	calls := []insights.CallRecord{
		{SessionID: "call-avaya", Start: day, End: day.Add(90 * time.Second), StatusCode: insights.StatusCodeOK,
			SIPCallID: "avaya-dialog@sbce", EndReason: "bye", RecordingStatus: insights.RecordingStatusUploaded,
			Participants: []insights.Participant{
				{ID: "QVZBWUEtUEFSVC0wMDAx", Name: "Agent 2001", AOR: "sip:2001@pbx.example.net", User: "2001",
					AORs: []string{"sip:2001@pbx.example.net", "tel:+3222001"}, Send: []string{"10"}, Recv: []string{"11"},
					ExtensionData: map[string][]string{"agentId": {"2001"}}},
				{ID: "QVZBWUEtUEFSVC0wMDAy", Name: "Client Dupont", AOR: "sip:+3225551234@carrier.example.net", User: "+3225551234",
					Send: []string{"11"}, Recv: []string{"10"}},
			},
			ExtensionData:    map[string][]string{"ucid": {"00FA080018A2C45F61811A2B"}, "skill_name": {"billing"}, "skill_id": {"42"}},
			CallAttachedData: map[string]any{"tenant_field_org_id": "org-7", "tenant_field_status": "ended", "queue": "billing"}},
		{SessionID: "call-cisco", Start: day.Add(time.Hour), End: day.Add(time.Hour + 30*time.Second), StatusCode: insights.StatusCodeWarning,
			StatusReason: "recording repaired after a crash", EndReason: "interrupted", RecordingStatus: insights.RecordingStatusUploaded,
			SIPSessionIDs: []string{"a7c5b3e0b8f35b4c9d1f0e2a6b7c8d9e;remote=0d3f1e2a7b6c5d4e3f2a1b0c9d8e7f6a"},
			Participants: []insights.Participant{
				{ID: "rTEFcgWXEeqAAv7Fk0kd8A==", AOR: "sip:+14085550100@198.51.100.10", User: "+14085550100", Send: []string{"1"}, Recv: []string{"2"},
					ExtensionData: map[string][]string{"participantData_direction": {"inbound"}}},
				{ID: "rTEFcgWXEeqABP7Fk0kd8A==", AOR: "sip:+14085550199@198.51.100.20", User: "+14085550199", Send: []string{"2"}, Recv: []string{"1"},
					ExtensionData: map[string][]string{"participantData_direction": {"outbound"}}, Left: true},
			},
			ExtensionData:    map[string][]string{"guid": {"3F2A1B00-0001-11E9-8E6B-00505696A1C3"}, "callingNumber": {"+14085550100"}},
			CallAttachedData: map[string]any{"tenant_field_org_id": "org-7", "tenant_field_status": "ended", "queue": nil}},
		{SessionID: "call-oracle", Start: day.Add(2 * time.Hour), End: day.Add(2*time.Hour + 10*time.Second), StatusCode: insights.StatusCodeError,
			StatusReason: "upload failing (3 tries): endpoint unreachable", EndReason: "bye", RecordingStatus: insights.RecordingStatusUploadFailing,
			Participants: []insights.Participant{
				{ID: "hq18GJs3TtJdhjPsfPNV8A==", Name: "sipp", AOR: "sip:sipp@192.0.2.1", User: "sipp", Send: []string{"1"}, Recv: []string{"2"},
					ExtensionData: map[string][]string{"callingParty": {"true"}, "in-realm": {"net192"}}},
				{ID: "5G1PnZ4KSWJv1ZbGXkSTzQ==", Name: "sut", AOR: "sip:service@192.0.2.13", User: "service", Send: []string{"2"}, Recv: []string{"1"},
					ExtensionData: map[string][]string{"callingParty": {"false"}}},
			},
			ExtensionData:    map[string][]string{"ucid": {"00FA080018A2C45F61811A2B;encoding=hex"}, "callerOrig": {"true"}},
			CallAttachedData: map[string]any{"tenant_field_org_id": "org-8", "tenant_field_status": "ended", "queue": "sales"}},
		{SessionID: "call-live", Start: day.Add(3 * time.Hour), SIPCallID: "live@src",
			Participants: []insights.Participant{
				{ID: "p-live-1", Name: "Caller", AOR: "sip:+4915112345678@gw.example.org", User: "+4915112345678", Send: []string{"caller"}, Recv: []string{"bot"}},
				{ID: "p-live-2", Name: "Virtual agent", AOR: "sip:bot@gw.example.org", User: "bot", Send: []string{"bot"}, Recv: []string{"caller"}},
			},
			CallAttachedData: map[string]any{"tenant_field_org_id": "org-7", "tenant_field_status": "in_progress", "queue": "sales"}},
	}
	out := make([]*insights.Session, 0, len(calls))
	for _, c := range calls {
		c.AccountID, c.ApplicationID, c.Format = CallAccount, "AP-siprec", "wav"
		if len(c.Participants) > 1 {
			c.Source, c.Destination = c.Participants[0].User, c.Participants[1].User
		}
		out = append(out, insights.NewCallSession(c))
	}
	return out
}

// testRecordedCalls: every field a recording server adds to a session is
// searchable with term (ID fields refuse match), free text with match, and
// each query agrees with insights.Evaluate.
func testRecordedCalls(t *testing.T, open Opener) {
	idx := insights.NewIndex(open(t))
	t.Cleanup(func() { _ = idx.Close() })
	if err := idx.Put(context.Background(), CallFixtures()...); err != nil {
		t.Fatal(err)
	}
	const day = "from_date=2021-03-01&to_date=2021-03-01&sort_by=session_start_time:asc&"
	f := func(filter string) string { return day + "filter_by=" + url.QueryEscape(filter) }
	for _, tc := range []queryCase{
		{name: "status in progress", raw: f(`{"must":[{"term":{"status":"in_progress"}}]}`), ids: []string{"call-live"}},
		{name: "call_status ended", raw: f(`{"must":[{"term":{"channel_data.call_status":"ended"}}]}`), ids: []string{"call-avaya", "call-cisco", "call-oracle"}},
		{name: "status code warning", raw: f(`{"must":[{"term":{"channel_data.status_code":100}}]}`), ids: []string{"call-cisco"}},
		{name: "status code not successful", raw: f(`{"must_not":[{"term":{"channel_data.status_code":0}}]}`), ids: []string{"call-cisco", "call-oracle", "call-live"}},
		{name: "recording status", raw: f(`{"must":[{"term":{"channel_data.recording_status":"upload_failing"}}]}`), ids: []string{"call-oracle"}},
		{name: "recording status of a live call", raw: f(`{"must":[{"term":{"channel_data.recording_status":"recording"}}]}`), ids: []string{"call-live"}},
		{name: "end reason", raw: f(`{"must":[{"term":{"channel_data.end_reason":"interrupted"}}]}`), ids: []string{"call-cisco"}},
		{name: "status reason by match", raw: f(`{"must":[{"match":{"channel_data.status_reason":"unreachable"}}]}`), ids: []string{"call-oracle"}},
		{name: "participant AOR", raw: f(`{"must":[{"term":{"channel_data.participants.aor":"sip:+14085550199@198.51.100.20"}}]}`), ids: []string{"call-cisco"}},
		{name: "participant number", raw: f(`{"should":[{"term":{"channel_data.participants.user":"+3225551234"}},{"term":{"channel_data.participants.user":"bot"}}]}`), ids: []string{"call-avaya", "call-live"}},
		{name: "participant's second AOR", raw: f(`{"must":[{"term":{"channel_data.participants.aors":"tel:+3222001"}}]}`), ids: []string{"call-avaya"}},
		{name: "participant ID", raw: f(`{"must":[{"term":{"channel_data.participants.id":"5G1PnZ4KSWJv1ZbGXkSTzQ=="}}]}`), ids: []string{"call-oracle"}},
		{name: "participant name by match", raw: f(`{"must":[{"match":{"channel_data.participants.name":"dupont"}}]}`), ids: []string{"call-avaya"}},
		{name: "participant name by term", raw: f(`{"must":[{"term":{"channel_data.participants.name":"Virtual agent"}}]}`), ids: []string{"call-live"}},
		{name: "stream label sent", raw: f(`{"must":[{"term":{"channel_data.participants.send":"caller"}}]}`), ids: []string{"call-live"}},
		{name: "participant that left", raw: f(`{"must":[{"term":{"channel_data.participants.left":true}}]}`), ids: []string{"call-cisco"}},
		{name: "UCID", raw: f(`{"must":[{"term":{"channel_data.extension_data.ucid":"00FA080018A2C45F61811A2B"}}]}`), ids: []string{"call-avaya"}},
		{name: "UCID with its parameter", raw: f(`{"must":[{"term":{"channel_data.extension_data.ucid":"00FA080018A2C45F61811A2B;encoding=hex"}}]}`), ids: []string{"call-oracle"}},
		{name: "Cisco session GUID", raw: f(`{"must":[{"term":{"channel_data.extension_data.guid":"3F2A1B00-0001-11E9-8E6B-00505696A1C3"}}]}`), ids: []string{"call-cisco"}},
		{name: "extension attribute", raw: f(`{"must":[{"term":{"channel_data.extension_data.skill_id":"42"}}]}`), ids: []string{"call-avaya"}},
		{name: "participant extension", raw: f(`{"must":[{"term":{"channel_data.participants.extension_data.callingParty":"false"}}]}`), ids: []string{"call-oracle"}},
		{name: "SIP Session-ID", raw: f(`{"must":[{"term":{"channel_data.sip_session_ids":"a7c5b3e0b8f35b4c9d1f0e2a6b7c8d9e;remote=0d3f1e2a7b6c5d4e3f2a1b0c9d8e7f6a"}}]}`), ids: []string{"call-cisco"}},
		{name: "SIP Call-ID", raw: f(`{"must":[{"term":{"channel_data.sip_call_id":"live@src"}}]}`), ids: []string{"call-live"}},
		{name: "call attached data", raw: f(`{"must":[{"term":{"call_attached_data.tenant_field_org_id":"org-7"}}],"must_not":[{"term":{"call_attached_data.queue":"sales"}}]}`), ids: []string{"call-avaya", "call-cisco"}},
		{name: "call attached data null matches nothing", raw: f(`{"must":[{"term":{"call_attached_data.queue":"null"}}]}`), ids: nil},
		{name: "sort by a participant field", raw: "from_date=2021-03-01&to_date=2021-03-01&sort_by=channel_data.participants.user:desc", ids: []string{"call-oracle", "call-live", "call-avaya", "call-cisco"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := parseRaw(t, tc.raw)
			res, err := idx.Search(context.Background(), CallAccount, q)
			if err != nil {
				t.Fatal(err)
			}
			got := values(t, res.Hits, "id")
			if res.Total != len(tc.ids) || !slices.Equal(got, tc.ids) {
				t.Fatalf("total %d, ids %q; want %q", res.Total, got, tc.ids)
			}
			ref, err := insights.Evaluate(CallFixtures(), CallAccount, q)
			if err != nil {
				t.Fatal(err)
			}
			if !sameResult(ref, res) {
				t.Fatalf("differs from insights.Evaluate: %s vs %s", mustJSON(res), mustJSON(ref))
			}
		})
	}
	// ID fields refuse match, like seed 004's
	for _, path := range []string{"channel_data.extension_data.ucid", "channel_data.participants.aor", "channel_data.participants.user",
		"channel_data.participants.extension_data.callingParty", "call_attached_data.queue", "channel_data.recording_status",
		"channel_data.sip_session_ids", "channel_data.end_reason", "channel_data.playback_url"} {
		_, err := insights.ParseURLQuery(f(`{"must":[{"match":{"` + path + `":"x"}}]}`))
		if !errors.Is(err, insights.ErrMatchOnIDField) {
			t.Errorf("match on %s: %v, want ErrMatchOnIDField", path, err)
		}
	}
	for _, obj := range []string{"channel_data.participants", "channel_data.extension_data", "call_attached_data"} {
		if _, err := insights.ParseURLQuery("from_date=2021-03-01&to_date=2021-03-01&sort_by=" + obj + ":asc"); !errors.Is(err, insights.ErrInvalidSort) {
			t.Errorf("sort on the object %s: %v, want ErrInvalidSort", obj, err)
		}
	}
}
