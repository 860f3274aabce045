package mail_test

import (
	"testing"

	"github.com/sesame-edu/sesame/server/mail"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

// TestMemStoreContract keeps the worker tests' fake honest: it must behave
// as the real store does (server/store runs the same suite on every
// backend).
func TestMemStoreContract(t *testing.T) {
	storetest.TestOutboxStore(t, func(*testing.T) mail.Store { return mail.NewMemStore() })
}
