package rbac

// HashSlots exposes a MemberStore's hashing slots to the external tests,
// which take them to stand for hashes in flight.
func HashSlots(s *MemberStore) chan struct{} { return s.hashSlots }
