package metadata

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
)

// IDs of the call in testdata/metadata/rfc8068_basic_call.xml and its updates.
const (
	sessS   = "Nb9vXW2lSj+L7rIWSp3AJQ=="
	alice   = "dWz+yfl0SR+V9QuQzd8BAw=="
	bob     = "jVTmAxfHR0uZzyQ3QJKn3w=="
	carol   = "nHYrE5M9RWO6+lZrkY+c1Q=="
	stream1 = "O0bVbURNS0SgeUgsjbQQLw=="
	stream2 = "SEKS3pA7SnW7k3DsrgHcvA=="
	stream3 = "u3mT0nW0QfyK8bP7YcVQdg=="
)

func parseCorpus(t *testing.T, name string) *Recording {
	t.Helper()
	r, err := Parse(corpus(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

func checkChanges(t *testing.T, got, want []Change) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes:\n%s\nwant:\n%s", changeList(got), changeList(want))
	}
}

func changeList(cs []Change) string {
	s := ""
	for _, c := range cs {
		s += fmt.Sprintf("  %s\n", c)
	}
	return s
}

func basicState(t *testing.T) *State {
	t.Helper()
	var s State // the zero value is ready to use
	s.Apply(parseCorpus(t, "rfc8068_basic_call.xml"))
	return &s
}

func TestApplyInitialCompleteDocument(t *testing.T) {
	var s State
	got := s.Apply(parseCorpus(t, "rfc8068_basic_call.xml"))
	at := utc("2016-05-09T07:35:17.123Z")
	checkChanges(t, got, []Change{
		{Kind: SessionAdded, ID: sessS, SessionID: sessS, Time: at},
		{Kind: RecordingAssociated, ID: sessS, SessionID: sessS, Time: at},
		{Kind: ParticipantJoined, ID: alice, SessionID: sessS, Time: at},
		{Kind: ParticipantJoined, ID: bob, SessionID: sessS, Time: at},
		{Kind: StreamAdded, ID: stream1, SessionID: sessS, Label: "1"},
		{Kind: StreamAdded, ID: stream2, SessionID: sessS, Label: "2"},
		{Kind: StreamAssociationChanged, ID: alice, Send: []string{stream1}, Recv: []string{stream2}},
		{Kind: StreamAssociationChanged, ID: bob, Send: []string{stream2}, Recv: []string{stream1}},
	})
	// Applying the same complete document again changes nothing.
	checkChanges(t, s.Apply(parseCorpus(t, "rfc8068_basic_call.xml")), nil)
}

func TestApplyPartialUpdates(t *testing.T) {
	tests := []struct {
		name     string
		update   string // corpus file, or inline XML when it starts with '<'
		want     []Change
		wantPeer []ParticipantStreams // ParticipantStreams after the update; nil = not checked
	}{
		{
			name:   "participant leaves",
			update: "rfc8068_participant_leaves_partial.xml",
			want: []Change{
				{Kind: ParticipantLeft, ID: bob, SessionID: sessS, Time: utc("2016-05-09T07:36:02Z")},
				{Kind: StreamAssociationChanged, ID: alice, Send: []string{stream1}},
				{Kind: StreamAssociationChanged, ID: bob},
			},
			wantPeer: []ParticipantStreams{
				{Participant: Participant{ID: alice, NameIDs: []NameID{{AOR: "sip:alice@atlanta.example.com", Names: []Name{{"en", "Alice"}}}}}, Active: true, Send: []string{"1"}},
				{Participant: Participant{ID: bob, NameIDs: []NameID{{AOR: "sip:bob@biloxi.example.com", Names: []Name{{"en", "Bob"}}}}}, Active: false},
			},
		},
		{
			name:   "transfer: one leaves, one joins and takes over the stream",
			update: "rfc8068_transfer_partial.xml",
			want: []Change{
				{Kind: ParticipantLeft, ID: bob, SessionID: sessS, Time: utc("2016-05-09T07:40:00Z")},
				{Kind: ParticipantJoined, ID: carol, SessionID: sessS, Time: utc("2016-05-09T07:40:00Z")},
				{Kind: StreamAssociationChanged, ID: bob},
				{Kind: StreamAssociationChanged, ID: carol, Send: []string{stream2}, Recv: []string{stream1}},
			},
		},
		{
			name:   "session stops",
			update: "rfc8068_session_stop_partial.xml",
			want: []Change{
				{Kind: SessionStopped, ID: sessS, SessionID: sessS, Time: utc("2016-05-09T07:45:10.5+02:00")},
				{Kind: RecordingDisassociated, ID: sessS, SessionID: sessS, Time: utc("2016-05-09T07:45:10.5+02:00")},
			},
		},
		{
			name:   "stream added",
			update: "rfc8068_stream_added_partial.xml",
			want: []Change{
				{Kind: StreamAdded, ID: stream3, SessionID: sessS, Label: "3"},
				{Kind: StreamAssociationChanged, ID: alice, Send: []string{stream1, stream3}, Recv: []string{stream2}},
			},
		},
		{
			name: "association without session_id applies to every session of the participant",
			update: `<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>partial</datamode>
				<participantsessionassoc participant_id="` + bob + `"><disassociate-time>2016-05-09T08:00:00Z</disassociate-time></participantsessionassoc></recording>`,
			want: []Change{{Kind: ParticipantLeft, ID: bob, SessionID: sessS, Time: utc("2016-05-09T08:00:00Z")}},
		},
		{
			name: "draft-era leave inside <participant> (Ribbon BYE shape)",
			update: `<recording xmlns='urn:ietf:params:xml:ns:recording'><datamode>Partial</datamode>
				<participant participant_id="` + alice + `" session_id="` + sessS + `"><disassociate-time>2016-05-09T08:00:00Z</disassociate-time></participant></recording>`,
			want: []Change{{Kind: ParticipantLeft, ID: alice, SessionID: sessS, Time: utc("2016-05-09T08:00:00Z")}},
		},
		{
			name: "participant renamed",
			update: `<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>partial</datamode>
				<participant participant_id="` + bob + `"><nameID aor="sip:bob@biloxi.example.com"><name xml:lang="en">Robert</name></nameID></participant></recording>`,
			want: []Change{{Kind: ParticipantUpdated, ID: bob}},
		},
		{
			name: "stream relabelled",
			update: `<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>partial</datamode>
				<stream stream_id="` + stream2 + `"><label>7</label></stream></recording>`,
			want: []Change{{Kind: StreamUpdated, ID: stream2, SessionID: sessS, Label: "7"}},
		},
		{
			name: "new session and group",
			update: `<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>partial</datamode>
				<group group_id="g2"><associate-time>2016-05-09T08:00:00Z</associate-time></group>
				<session session_id="c2"><group-ref>g2</group-ref></session>
				<sessionrecordingassoc session_id="c2"><associate-time>2016-05-09T08:00:00Z</associate-time></sessionrecordingassoc></recording>`,
			want: []Change{
				{Kind: GroupAdded, ID: "g2", Time: utc("2016-05-09T08:00:00Z")},
				{Kind: SessionAdded, ID: "c2", SessionID: "c2"},
				{Kind: RecordingAssociated, ID: "c2", SessionID: "c2", Time: utc("2016-05-09T08:00:00Z")},
			},
		},
		{
			name: "recording ID set",
			update: `<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>partial</datamode>
				<recordingID xmlns="urn:x-voicegw:siprec:1">r-9</recordingID></recording>`,
			want: []Change{{Kind: RecordingIDChanged, Value: "r-9"}},
		},
		{
			name:   "nothing new",
			update: `<recording><datamode>partial</datamode><session session_id="` + sessS + `"/></recording>`,
			want:   nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := basicState(t)
			var u *Recording
			if tc.update[0] == '<' {
				u = mustParse(t, tc.update)
			} else {
				u = parseCorpus(t, tc.update)
			}
			if !u.IsPartial() {
				t.Fatal("update is not partial")
			}
			checkChanges(t, s.Apply(u), tc.want)
			cur := s.Recording()
			if cur.DataMode != Complete {
				t.Errorf("state datamode = %q", cur.DataMode)
			}
			if tc.wantPeer != nil {
				if got := cur.ParticipantStreams(); !reflect.DeepEqual(got, tc.wantPeer) {
					t.Errorf("ParticipantStreams =\n%#v\nwant\n%#v", got, tc.wantPeer)
				}
			}
			// The merged state is itself a document that round-trips.
			roundTrip(t, cur)
		})
	}
}

func TestApplyRejoinAndStaleAssociateTime(t *testing.T) {
	s := basicState(t)
	s.Apply(parseCorpus(t, "rfc8068_participant_leaves_partial.xml"))
	stale := `<recording><datamode>partial</datamode><participantsessionassoc participant_id="` + bob + `" session_id="` + sessS + `"><associate-time>2016-05-09T07:00:00Z</associate-time></participantsessionassoc></recording>`
	checkChanges(t, s.Apply(mustParse(t, stale)), nil)
	rejoin := `<recording><datamode>partial</datamode><participantsessionassoc participant_id="` + bob + `" session_id="` + sessS + `"><associate-time>2016-05-09T07:50:00Z</associate-time></participantsessionassoc></recording>`
	checkChanges(t, s.Apply(mustParse(t, rejoin)), []Change{
		{Kind: ParticipantJoined, ID: bob, SessionID: sessS, Time: utc("2016-05-09T07:50:00Z")},
	})
}

func TestApplyCompleteReplacesAndReportsDifference(t *testing.T) {
	s := basicState(t)
	s.Apply(parseCorpus(t, "rfc8068_transfer_partial.xml"))

	// The complete snapshot of the original call: Carol is gone, Bob back.
	checkChanges(t, s.Apply(parseCorpus(t, "rfc8068_basic_call.xml")), []Change{
		{Kind: ParticipantJoined, ID: bob, SessionID: sessS, Time: utc("2016-05-09T07:35:17.123Z")},
		{Kind: ParticipantLeft, ID: carol, SessionID: sessS},
		{Kind: StreamAssociationChanged, ID: bob, Send: []string{stream2}, Recv: []string{stream1}},
		{Kind: StreamAssociationChanged, ID: carol},
	})

	// A complete document with Alice alone: Bob and his stream go away.
	only := parseCorpus(t, "rfc8068_basic_call.xml")
	only.Participants = only.Participants[:1]
	only.Streams = only.Streams[:1]
	only.ParticipantSessionAssocs = only.ParticipantSessionAssocs[:1]
	only.ParticipantStreamAssocs = []ParticipantStreamAssoc{{ParticipantID: alice, Send: []string{stream1}}}
	checkChanges(t, s.Apply(only), []Change{
		{Kind: ParticipantLeft, ID: bob, SessionID: sessS},
		{Kind: StreamRemoved, ID: stream2, SessionID: sessS, Label: "2"},
		{Kind: StreamAssociationChanged, ID: alice, Send: []string{stream1}},
		{Kind: StreamAssociationChanged, ID: bob},
	})
	if got := s.Recording(); !reflect.DeepEqual(got, only) {
		t.Errorf("state is not the complete document:\n%s", got)
	}

	// An empty complete document removes everything else.
	checkChanges(t, s.Apply(&Recording{}), []Change{
		{Kind: SessionRemoved, ID: sessS, SessionID: sessS},
		{Kind: RecordingDisassociated, ID: sessS, SessionID: sessS},
		{Kind: ParticipantLeft, ID: alice, SessionID: sessS},
		{Kind: StreamRemoved, ID: stream1, SessionID: sessS, Label: "1"},
		{Kind: StreamAssociationChanged, ID: alice},
	})
}

func TestStateDoesNotShareMemory(t *testing.T) {
	doc := parseCorpus(t, "rfc8068_basic_call.xml")
	s := NewState(doc)
	doc.Participants[0].NameIDs[0].AOR = "sip:changed@caller"
	got := s.Recording()
	if got.Participants[0].AOR() != "sip:alice@atlanta.example.com" {
		t.Error("changing the applied document changed the state")
	}
	got.Streams[0].Label = "changed"
	if s.Recording().Streams[0].Label != "1" {
		t.Error("changing a returned copy changed the state")
	}
	partial := parseCorpus(t, "rfc8068_transfer_partial.xml")
	s.Apply(partial)
	partial.Participants[0].NameIDs[0].Names[0].Text = "changed"
	if p, _ := s.Recording().Participant(carol); p.DisplayName() != "Carol" {
		t.Error("changing an applied partial document changed the state")
	}
}

func TestStateNilAndConcurrentUse(t *testing.T) {
	s := NewState(nil)
	if s.Apply(nil) != nil {
		t.Error("Apply(nil) reported changes")
	}
	doc := parseCorpus(t, "rfc8068_basic_call.xml")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				s.Apply(doc)
				_ = s.Recording().ParticipantStreams()
			}
		})
	}
	wg.Wait()
	if got := s.Recording(); !reflect.DeepEqual(got, doc) {
		t.Errorf("state after concurrent applies:\n%s", got)
	}
}

func TestChangeString(t *testing.T) {
	tests := []struct {
		c    Change
		want string
	}{
		{Change{Kind: ParticipantLeft, ID: "p1", SessionID: "s", Time: utc("2020-01-01T00:00:00Z")}, "participant-left p1 session=s at 2020-01-01T00:00:00Z"},
		{Change{Kind: StreamAdded, ID: "x", Label: "2"}, "stream-added x label=2"},
		{Change{Kind: StreamAssociationChanged, ID: "p", Send: []string{"a"}}, "stream-association-changed p send=[a] recv=[]"},
		{Change{Kind: RecordingIDChanged, Value: "r"}, `recording-id-changed "r"`},
		{Change{Kind: 99}, "ChangeKind(99)"},
	}
	for _, tc := range tests {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
