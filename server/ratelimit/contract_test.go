package ratelimit_test

import (
	"testing"

	"github.com/sesame-edu/sesame/server/ratelimit"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

// TestMemStoreContract keeps the unit tests' fake honest: it must behave
// as the real store does (server/store runs the same suite on every
// backend).
func TestMemStoreContract(t *testing.T) {
	storetest.TestRateLimitStore(t, func(*testing.T) ratelimit.Store { return ratelimit.NewMemStore() })
}
