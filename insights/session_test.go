package insights

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"
)

// stripLineComments removes the "// …" annotations seed 004 puts after
// values, outside JSON strings (the strings hold "http://…").
func stripLineComments(b []byte) []byte {
	var out bytes.Buffer
	inStr, esc := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '/' && i+1 < len(b) && b[i+1] == '/':
			for i < len(b) && b[i] != '\n' {
				i++
			}
			out.WriteByte('\n')
			continue
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}

// seedResult reads seed 004's "Get All Result" example output document.
func seedResult(t testing.TB) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/seed004_get_all_result.jsonc")
	if err != nil {
		t.Fatal(err)
	}
	b := stripLineComments(raw)
	if !json.Valid(b) {
		t.Fatalf("seed example output is not JSON after removing comments:\n%s", b)
	}
	return b
}

// seedSession returns the raw JSON of the seed's one hit.
func seedSession(t testing.TB) []byte {
	t.Helper()
	var r struct {
		Hits []json.RawMessage `json:"hits"`
	}
	if err := json.Unmarshal(seedResult(t), &r); err != nil || len(r.Hits) != 1 {
		t.Fatalf("seed result: %v, %d hits", err, len(r.Hits))
	}
	return r.Hits[0]
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

func TestSessionRoundTripsSeedExample(t *testing.T) {
	raw := seedSession(t)
	var s Session
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, raw, out) {
		t.Fatalf("round trip differs from seed 004:\nseed: %s\nours: %s", compact(raw), out)
	}
	// Spot checks that the typed fields hold the seed's values.
	if s.ID != "8ae433e8-7bc1-41a0-b0a6-0cccc30cbc36" || s.ChannelData.Duration != 27000 ||
		s.ChannelData.StatusCode == nil || *s.ChannelData.StatusCode != 200 ||
		s.AgentInformation.Voice != "Salli" || len(s.FlowPath) != 6 || s.FlowPath[1].ExecutionTime != 168 ||
		s.Transcription[3] != (Utterance{Speaker: "5f7f2f337340dc7249f81406", Text: "shut up Benjamin"}) ||
		s.Tags["ddbc05ccbc48431d898104ac5e5b561a"]["three"] != 2 || !s.Params["name"].Completed ||
		s.FlowData.InjectedParameters == nil || len(s.FlowData.InjectedParameters) != 0 {
		t.Fatalf("typed fields wrong: %+v", s)
	}
	want := time.Date(2020, 10, 8, 17, 9, 27, 758983000, time.UTC)
	if !s.SessionStartTime.Equal(want) {
		t.Fatalf("start = %v, want %v", s.SessionStartTime, want)
	}
}

func TestSessionResultRoundTripsSeedExample(t *testing.T) {
	raw := seedResult(t)
	var r Result
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if r.Total != 1 || r.PageSize != 10 || r.PageNumber != 0 || len(r.Hits) != 1 {
		t.Fatalf("result = %+v", r)
	}
	s, err := r.Hits[0].Session()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(s)
	r.Hits[0] = Hit(b)
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, raw, out) {
		t.Fatalf("result round trip differs:\nseed: %s\nours: %s", compact(raw), out)
	}
	if !bytes.Contains(out, []byte(`"page_size":"10"`)) || !bytes.Contains(out, []byte(`"page_number":"0"`)) {
		t.Fatalf("page_size/page_number not strings as in seed 004: %s", out)
	}
}

func TestSessionKeepsUnknownFields(t *testing.T) {
	in := []byte(`{"id":"a","parameters":{"name":"Benjamin"},"zeta":[1,2],"session_start_time":"2021-01-15T08:09:43"}`)
	var s Session
	if err := json.Unmarshal(in, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Extra) != 2 {
		t.Fatalf("Extra = %v", s.Extra)
	}
	out, _ := json.Marshal(s)
	if !jsonEqual(t, in, out) {
		t.Fatalf("got %s, want %s", out, in)
	}
	s.Extra["bad"] = json.RawMessage(`{`)
	if _, err := json.Marshal(s); err == nil {
		t.Fatal("invalid Extra JSON marshalled")
	}
}

func TestUtteranceErrors(t *testing.T) {
	for _, in := range []string{`{}`, `{"a":"x","b":"y"}`, `{"a":1}`, `[]`} {
		t.Run(in, func(t *testing.T) {
			var u Utterance
			if err := json.Unmarshal([]byte(in), &u); err == nil {
				t.Fatalf("accepted %s", in)
			}
		})
	}
}

func TestTimeFormats(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2020-10-08T17:09:27.758983", "2020-10-08T17:09:27.758983"},
		{"2020-10-08T17:09:27", "2020-10-08T17:09:27"},
		{"2020-10-08 17:09:27.5", "2020-10-08T17:09:27.500000"},
		{"2020-10-08T19:09:27+02:00", "2020-10-08T17:09:27"},
		{"2020-10-08T17:09:27.123456789Z", "2020-10-08T17:09:27.123456"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			v, err := ParseTime(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if v.String() != tc.want {
				t.Fatalf("got %s, want %s", v, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "2020-13-01T00:00:00", "yesterday", "2020-10-08"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

func TestNewCallSession(t *testing.T) {
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	s := NewCallSession(CallRecord{
		SessionID: "s1", AccountID: "AC1", ApplicationID: "AP1", Source: "+15551230001",
		Destination: "+15551230002", Start: start, End: start.Add(27 * time.Second),
		Format: "MP3", RecordingID: "rec-9", SIPCallID: "abc@10.0.0.1",
	})
	b, _ := json.Marshal(s)
	want := `{"id":"s1","account_id":"AC1","status":"ended","channel":"voice","source":"+15551230001",
	"destination":"+15551230002","session_start_time":"2025-03-01T10:00:00","session_end_time":"2025-03-01T10:00:27",
	"agent_id":"AP1","agent_information":{"id":"AP1"},"channel_data":{"duration":27000,"audio_url":"AC1/AP1/s1.mp3",
	"call_status":"ended","status_code":0,"recording_id":"rec-9","sip_call_id":"abc@10.0.0.1","recording_status":"uploading"}}`
	if !jsonEqual(t, b, []byte(want)) {
		t.Fatalf("got %s", b)
	}
	inProgress := NewCallSession(CallRecord{SessionID: "s2", Start: start})
	if inProgress.Status != StatusInProgress || inProgress.ChannelData.AudioURL != "" || inProgress.ChannelData.Duration != 0 ||
		inProgress.ChannelData.StatusCode != nil || inProgress.ChannelData.RecordingStatus != "" {
		t.Fatalf("in-progress call without recording: %+v", inProgress)
	}
	recorded := NewCallSession(CallRecord{SessionID: "s3", AccountID: "AC1", ApplicationID: "AP1", Start: start, Format: "wav",
		StatusCode: StatusCodeWarning, StatusReason: "not yet"})
	if cd := recorded.ChannelData; cd.RecordingStatus != RecordingStatusRecording || cd.StatusCode != nil || cd.StatusReason != "" ||
		cd.CallStatus != StatusInProgress || cd.AudioURL != "AC1/AP1/s3.wav" {
		t.Fatalf("in-progress recorded call: %+v", cd)
	}
}

// The fields of a recorded call a contact centre correlates with: every
// participant, the vendor extension data, the call attached data, the end
// reason and the honest status with its reason.
func TestNewCallSessionRecordedCall(t *testing.T) {
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	s := NewCallSession(CallRecord{
		SessionID: "s1", AccountID: "AC1", ApplicationID: "AP1", Start: start, End: start.Add(2 * time.Second), Format: "wav",
		SIPSessionIDs: []string{"ab30317f1a784dc48ff824d0d3715d86"},
		Participants: []Participant{
			{ID: "p1", Name: "Agent 2001", AOR: "sip:2001@pbx.example.net", User: "2001", AORs: []string{"sip:2001@pbx.example.net", "tel:+3222001"},
				Send: []string{"10"}, Recv: []string{"11"}, ExtensionData: map[string][]string{"agentId": {"2001"}}},
			{ID: "p2", AOR: "sip:+3225551234@carrier.example.net", User: "+3225551234", Send: []string{"11"}, Recv: []string{"10"}, Left: true},
		},
		ExtensionData:    map[string][]string{"ucid": {"00FA080018A2C45F61811A2B"}},
		CallAttachedData: map[string]any{"tenant_field_org_id": "AC1", "missing": nil},
		EndReason:        "media_timeout", StatusCode: StatusCodeError, StatusReason: "upload failing", RecordingStatus: RecordingStatusUploadFailing,
	})
	b, _ := json.Marshal(s)
	want := `{"id":"s1","account_id":"AC1","status":"ended","channel":"voice","session_start_time":"2025-03-01T10:00:00",
	"session_end_time":"2025-03-01T10:00:02","agent_id":"AP1","agent_information":{"id":"AP1"},
	"channel_data":{"duration":2000,"audio_url":"AC1/AP1/s1.wav","call_status":"ended","status_code":200,
	"sip_session_ids":["ab30317f1a784dc48ff824d0d3715d86"],"end_reason":"media_timeout","recording_status":"upload_failing",
	"status_reason":"upload failing","participants":[
	{"id":"p1","name":"Agent 2001","aor":"sip:2001@pbx.example.net","user":"2001","aors":["sip:2001@pbx.example.net","tel:+3222001"],
	 "send":["10"],"recv":["11"],"extension_data":{"agentId":["2001"]}},
	{"id":"p2","aor":"sip:+3225551234@carrier.example.net","user":"+3225551234","send":["11"],"recv":["10"],"left":true}],
	"extension_data":{"ucid":["00FA080018A2C45F61811A2B"]}},
	"call_attached_data":{"missing":null,"tenant_field_org_id":"AC1"}}`
	if !jsonEqual(t, b, []byte(want)) {
		t.Fatalf("got %s", b)
	}
	var back Session
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if b2, _ := json.Marshal(&back); !bytes.Equal(b, b2) {
		t.Fatalf("round trip:\n%s\n%s", b, b2)
	}
	d, err := Document(s)
	if err != nil {
		t.Fatal(err)
	}
	terms := map[string][]string{}
	for _, f := range d.Terms {
		terms[f.Path] = append(terms[f.Path], f.Value.Text)
	}
	for path, want := range map[string]string{
		"channel_data.participants.user":                   "+3225551234",
		"channel_data.participants.aors":                   "tel:+3222001",
		"channel_data.participants.extension_data.agentId": "2001",
		"channel_data.extension_data.ucid":                 "00FA080018A2C45F61811A2B",
		"channel_data.sip_session_ids":                     "ab30317f1a784dc48ff824d0d3715d86",
		"call_attached_data.tenant_field_org_id":           "AC1",
		"channel_data.recording_status":                    "upload_failing",
	} {
		if !slices.Contains(terms[path], want) {
			t.Errorf("terms of %s = %q, want %q among them", path, terms[path], want)
		}
		if !IsIDField(path) {
			t.Errorf("%s is not an ID field", path)
		}
	}
	for _, f := range d.Tokens {
		if IsIDField(f.Path) {
			t.Errorf("token %q of ID field %s", f.Value.Text, f.Path)
		}
	}
}

func compact(b []byte) string {
	var buf bytes.Buffer
	_ = json.Compact(&buf, b)
	return buf.String()
}
