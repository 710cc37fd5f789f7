package srs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/siprec/metadata"
	"github.com/voicegw/voicegw/tenancy"
)

func parseMetadata(t *testing.T, name string) *metadata.Recording {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "metadata", name))
	if err != nil {
		t.Fatal(err)
	}
	md, err := metadata.Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return md
}

// The metadata of real session border controllers (siprec/testdata) gives
// every participant with its addresses, streams and extensions, and the
// vendor's call identifiers as searchable key/values.
func TestDetailsOfVendorMetadata(t *testing.T) {
	for _, tc := range []struct {
		file         string
		participants []insights.Participant
		ext          map[string][]string
		sessionIDs   []string
	}{
		{"avaya_sbce_style.xml", []insights.Participant{
			{ID: "QVZBWUEtUEFSVC0wMDAx", Name: "Agent 2001", AOR: "sip:2001@pbx.example.net", User: "2001",
				AORs: []string{"sip:2001@pbx.example.net", "tel:+3222001"}, Send: []string{"10"}, Recv: []string{"11"},
				ExtensionData: map[string][]string{"agentId": {"2001"}}},
			{ID: "QVZBWUEtUEFSVC0wMDAy", Name: "Client Dupont", AOR: "sip:+3225551234@carrier.example.net", User: "+3225551234",
				Send: []string{"11"}, Recv: []string{"10"}},
		}, map[string][]string{"ucid": {"00FA080018A2C45F61811A2B"}, "skill_name": {"billing"}, "skill_id": {"42"}}, nil},
		{"cisco_cube_style.xml", []insights.Participant{
			{ID: "rTEFcgWXEeqAAv7Fk0kd8A==", AOR: "sip:+14085550100@198.51.100.10", User: "+14085550100", Send: []string{"1"}, Recv: []string{"2"},
				ExtensionData: map[string][]string{"participantData_direction": {"inbound"}}},
			{ID: "rTEFcgWXEeqABP7Fk0kd8A==", AOR: "sip:+14085550199@198.51.100.20", User: "+14085550199", Send: []string{"2"}, Recv: []string{"1"},
				ExtensionData: map[string][]string{"participantData_direction": {"outbound"}}},
		}, map[string][]string{"guid": {"3F2A1B00-0001-11E9-8E6B-00505696A1C3"}, "callingNumber": {"+14085550100"}, "calledNumber": {"+14085550199"}},
			[]string{"a7c5b3e0b8f35b4c9d1f0e2a6b7c8d9e;remote=0d3f1e2a7b6c5d4e3f2a1b0c9d8e7f6a"}},
		{"oracle_sbc_style.xml", []insights.Participant{
			{ID: "hq18GJs3TtJdhjPsfPNV8A==", Name: "sipp", AOR: "sip:sipp@192.0.2.1", User: "sipp", Send: []string{"1"}, Recv: []string{"2"},
				ExtensionData: map[string][]string{"callingParty": {"true"}, "request-uri": {"sip:service@192.0.2.13:5060"}, "in-realm": {"net192"},
					"header_label": {"P-Asserted-Identity"}, "value": {"<sip:mike@acme.example>"}}},
			{ID: "5G1PnZ4KSWJv1ZbGXkSTzQ==", Name: "sut", AOR: "sip:service@192.0.2.13", User: "service", Send: []string{"2"}, Recv: []string{"1"},
				ExtensionData: map[string][]string{"callingParty": {"false"}}},
		}, map[string][]string{"ucid": {"00FA080018A2C45F61811A2B;encoding=hex"}, "callerOrig": {"true"}}, nil},
		{"genesys_style_bom.xml", []insights.Participant{
			{ID: "Z2Vucy1wMQ==", Name: "Agent 7", AOR: "sip:agent7@contact.example", User: "agent7", Send: []string{"L1"}},
		}, map[string][]string{"id": {"f3a1b2c3"}, "queue": {"sales"}}, nil},
		{"voicegw_client.xml", []insights.Participant{
			{ID: "dmd3LWNhbGxlcg==", Name: "Caller", AOR: "sip:+4915112345678@gw.example.org", User: "+4915112345678", Send: []string{"caller"}, Recv: []string{"bot"}},
			{ID: "dmd3LWJvdA==", Name: "Virtual agent", AOR: "sip:bot@gw.example.org", User: "bot", Send: []string{"bot"}, Recv: []string{"caller"}},
		}, nil, []string{"0123456789abcdef0123456789abcdef"}}, // its recordingID extension is the recording ID, not extension data
	} {
		t.Run(tc.file, func(t *testing.T) {
			d := DetailsOf(parseMetadata(t, tc.file))
			if !reflect.DeepEqual(d.Participants, tc.participants) {
				t.Errorf("participants\n got %+v\nwant %+v", d.Participants, tc.participants)
			}
			if !reflect.DeepEqual(d.ExtensionData, tc.ext) {
				t.Errorf("extension data %v, want %v", d.ExtensionData, tc.ext)
			}
			if !reflect.DeepEqual(d.SIPSessionIDs, tc.sessionIDs) {
				t.Errorf("Session-IDs %q, want %q", d.SIPSessionIDs, tc.sessionIDs)
			}
		})
	}
	// a conference: three participants, each receiving the two others
	d := DetailsOf(parseMetadata(t, "conference_three_party.xml"))
	if len(d.Participants) != 3 || !reflect.DeepEqual(d.Participants[2].Recv, []string{"1", "2"}) || d.Participants[1].Name != "健二" {
		t.Fatalf("conference participants %+v", d.Participants)
	}
	// a participant who left is marked so once the partial update is applied
	var st metadata.State
	for _, f := range []string{"rfc8068_basic_call.xml", "rfc8068_participant_leaves_partial.xml"} {
		st.Apply(parseMetadata(t, f))
	}
	d = DetailsOf(st.Recording())
	if len(d.Participants) != 2 || d.Participants[0].Left || !d.Participants[1].Left || d.Participants[1].Name != "Bob" {
		t.Fatalf("after the participant left: %+v", d.Participants)
	}
}

func TestUserOf(t *testing.T) {
	for aor, want := range map[string]string{
		"sip:+14085550100@198.51.100.10;user=phone": "+14085550100",
		"SIPS:alice@example.com":                    "alice",
		"tel:+3222001":                              "+3222001",
		"tel:+3222001;phone-context=example.com":    "+3222001",
		"sip:example.com":                           "",
		"":                                          "",
	} {
		if got := userOf(aor); got != want {
			t.Errorf("userOf(%q) = %q, want %q", aor, got, want)
		}
	}
}

// Extension data is bounded: keys made safe, values cut, at most
// MaxExtensionValues kept.
func TestExtensionDataBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<x:bag xmlns:x="urn:example">`)
	for i := range 100 {
		b.WriteString(`<x:k` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `>v</x:k` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `>`)
	}
	b.WriteString(`<x:long>` + strings.Repeat("é", MaxExtensionValueLen) + `</x:long></x:bag>`)
	got := ExtensionData(metadata.Extension{Space: "urn:example", Local: "bag", XML: b.String()})
	if len(got) != MaxExtensionValues {
		t.Fatalf("%d keys, want %d", len(got), MaxExtensionValues)
	}
	got = ExtensionData(metadata.Extension{Space: "urn:example", Local: "long", XML: `<long a.b="1" c:d="2" xmlns:c="u">` +
		strings.Repeat("é", MaxExtensionValueLen) + `</long>`})
	if v := got["long"]; len(v) != 1 || len(v[0]) > MaxExtensionValueLen || !utf8.ValidString(v[0]) {
		t.Fatalf("long value: %d bytes, valid %v", len(v[0]), utf8.ValidString(v[0]))
	}
	if got["long_a_b"] == nil || got["long_d"] == nil {
		t.Fatalf("attribute keys %v", got)
	}
}

// FuzzExtensionData: whatever the XML, keys are safe path segments and
// values bounded; and an element made of a key and a value reads back as
// that key and value (round trip).
func FuzzExtensionData(f *testing.F) {
	f.Add("ucid", "00FA080018A2C45F61811A2B", `<avaya:skill xmlns:avaya="a" name="billing" id="42"/>`)
	f.Add("guid", "3F2A1B00-0001", `<c:callData xmlns:c="c"><c:guid>x</c:guid></c:callData>`)
	f.Add("queue", "sales & <more>", `<attached key="queue">sales</attached>`)
	f.Fuzz(func(t *testing.T, key, value, doc string) {
		for k, vs := range ExtensionData(metadata.Extension{XML: doc}) {
			if k == "" || strings.ContainsFunc(k, func(r rune) bool {
				return !(r == '_' || r == '-' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
			}) || len(k) > maxExtensionKeyLen {
				t.Fatalf("key %q of %q", k, doc)
			}
			for _, v := range vs {
				if v == "" || len(v) > MaxExtensionValueLen {
					t.Fatalf("value of %q: %d bytes", k, len(v))
				}
			}
		}
		if extensionKey(key) != key || key == "" || !isXMLName(key) || !utf8.ValidString(value) || strings.ContainsFunc(value, notXMLChar) {
			return
		}
		v := strings.TrimSpace(value)
		if v == "" || len(v) > MaxExtensionValueLen {
			return
		}
		got := ExtensionData(metadata.NewTextExtension("urn:x-test", key, value))
		if want := map[string][]string{key: {v}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("<%s>%q</%s> read back as %v", key, value, key, got)
		}
	})
}

// isXMLName reports whether k (made of letters, digits, '_' and '-') is an
// XML name: not starting with a digit or '-'.
func isXMLName(k string) bool { return k[0] != '-' && (k[0] < '0' || k[0] > '9') }

// notXMLChar reports runes XML 1.0 cannot carry.
func notXMLChar(r rune) bool {
	return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF || r == utf8.RuneError
}

// Call attached data takes the session's variables, the metadata's
// extension data and the INVITE's headers (never its credentials), in the
// configured order, null where the session has no value.
func TestCallAttachedData(t *testing.T) {
	fields := []tenancy.CADField{
		{Name: "tenant_field_org_id", Value: "Interaction.organizationId"},
		{Name: "tenant_field_status", Value: "Interaction.status"},
		{Name: "duration_ms", Value: "Interaction.duration"},
		{Name: "ucid", Value: "Metadata.ucid"},
		{Name: "realm", Value: "Metadata.in_realm"},
		{Name: "customer", Value: "SIP.X_Customer_ID"},
		{Name: "uui", Value: "SIP.user_to_user"},
		{Name: "creds", Value: "SIP.Proxy_Authorization"},
		{Name: "missing", Value: "SIP.X_Nothing"},
	}
	req := sipgosip.NewRequest(sipgosip.INVITE, sipgosip.Uri{Scheme: "sip", User: "srs", Host: "gw.example"})
	req.AppendHeader(sipgosip.NewHeader("X-Customer-ID", "cust-42"))
	req.AppendHeader(sipgosip.NewHeader("User-to-User", "04fa08;encoding=hex"))
	req.AppendHeader(sipgosip.NewHeader("Proxy-Authorization", `Digest username="src", response="0123456789abcdef"`))
	d := CallDetails{ExtensionData: map[string][]string{"ucid": {"00FA08"}, "in-realm": {"net192"}}, Headers: sipHeaders(fields, req)}
	if _, leaked := d.Headers["SIP.Proxy_Authorization"]; leaked || len(d.Headers) != 2 {
		t.Fatalf("headers kept: %v", d.Headers)
	}
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	live := insights.NewCallSession(insights.CallRecord{SessionID: "S1", AccountID: "AC1", ApplicationID: "AP1", Start: start, Format: "wav"})
	cad, err := callAttachedData(fields, live, &d)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"tenant_field_org_id": "AC1", "tenant_field_status": "in_progress", "duration_ms": nil, "ucid": "00FA08",
		"realm": "net192", "customer": "cust-42", "uui": "04fa08;encoding=hex", "creds": nil, "missing": nil}
	if !reflect.DeepEqual(cad, want) {
		t.Fatalf("in progress: %v, want %v", cad, want)
	}
	ended := insights.NewCallSession(insights.CallRecord{SessionID: "S1", AccountID: "AC1", ApplicationID: "AP1", Start: start,
		End: start.Add(42 * time.Second), Format: "wav"})
	if cad, _ = callAttachedData(fields, ended, &d); cad["tenant_field_status"] != "ended" || cad["duration_ms"] != int64(42000) {
		t.Fatalf("ended: %v", cad)
	}
	if cad, err = callAttachedData([]tenancy.CADField{{Name: "bad name!", Value: "Interaction.id"}}, ended, &d); err == nil || cad != nil {
		t.Fatalf("invalid fields: %v, %v", cad, err)
	}
}
