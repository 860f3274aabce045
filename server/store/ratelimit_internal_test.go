package store

import "testing"

// TestUnreserveTheFirstRank: a key whose first claim or counter read
// failed is unseen again, so that its next hit reads the shared counter
// instead of probing slot by slot; a rank reserved since by another hit is
// kept.
func TestUnreserveTheFirstRank(t *testing.T) {
	s := &Store{}
	if n, _ := s.reserve("k", 1); n != 1 {
		t.Fatalf("first reservation = %d, want 1", n)
	}
	s.unreserve("k", 1)
	if _, known := s.reserve("k", 0); known {
		t.Error("the key is still known after its only rank was given back")
	}

	s.reserve("j", 1)
	s.reserve("j", 0) // another hit, meanwhile: rank 2
	s.unreserve("j", 1)
	if n, known := s.reserve("j", 0); !known || n != 3 {
		t.Errorf("after giving back rank 1 under a later rank 2: next = %d, %v; want 3, true", n, known)
	}
}
