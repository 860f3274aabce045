package store

import "testing"

// TestForgetAfterAFailedFirstClaim: a key whose first claim or counter
// read failed is unseen again, so that its next hit reads the shared
// counter instead of probing slot by slot; a rank reserved since by
// another hit is kept.
func TestForgetAfterAFailedFirstClaim(t *testing.T) {
	s := &Store{}
	if n, _ := s.reserve("k", 1); n != 1 {
		t.Fatalf("first reservation = %d, want 1", n)
	}
	s.forget("k", 1)
	if _, known := s.reserve("k", 0); known {
		t.Error("the key is still known after its only rank was forgotten")
	}

	s.reserve("j", 1)
	s.reserve("j", 0) // another hit, meanwhile: rank 2
	s.forget("j", 1)
	if n, known := s.reserve("j", 0); !known || n != 3 {
		t.Errorf("after forgetting rank 1 under a later rank 2: next = %d, %v; want 3, true", n, known)
	}
}
