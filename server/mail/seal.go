package mail

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sesame-edu/sesame/server/keys"
)

// sealed is what Enqueue encrypts: everything about a message but the
// fields operations need in clear (Kind, AccountID).
type sealed struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
	Lang    string `json:"lang,omitempty"`
}

// errOpen is returned for a seal that does not open: tampered, moved to
// another document, or sealed under another SESAME_SECRET.
var errOpen = errors.New("mail: sealed message does not open (tampered, or SESAME_SECRET changed)")

// newAEAD returns AES-256-GCM under the secret's "outbox" key. The key has
// its own purpose so that no other use of SESAME_SECRET (code hashes, CSRF
// tokens) can ever produce or check it.
func newAEAD(secret []byte) cipher.AEAD {
	if len(secret) == 0 {
		// An empty secret would give a key anyone can derive: a wiring
		// mistake that must not start.
		panic("mail: empty secret")
	}
	block, err := aes.NewCipher(keys.Derive(secret, "outbox"))
	if err != nil {
		panic(fmt.Sprintf("mail: %v", err)) // unreachable: Derive returns 32 bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(fmt.Sprintf("mail: %v", err)) // unreachable: AES has a 16-byte block
	}
	return aead
}

// seal encrypts m with a random 12-byte nonce, prepended to the result. The
// envelope id is the additional data: a seal copied into another document
// does not open there.
func seal(aead cipher.AEAD, id string, m Message) ([]byte, error) {
	plain, err := json.Marshal(sealed{To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML, Lang: m.Lang})
	if err != nil {
		return nil, fmt.Errorf("mail: seal: %w", err)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand never fails; it crashes the program instead
	return aead.Seal(nonce, nonce, plain, []byte(id)), nil
}

// open decrypts e's seal and completes the message with e's clear fields.
func open(aead cipher.AEAD, e Envelope) (Message, error) {
	n := aead.NonceSize()
	if len(e.Sealed) < n+aead.Overhead() {
		return Message{}, errOpen
	}
	plain, err := aead.Open(nil, e.Sealed[:n], e.Sealed[n:], []byte(e.ID))
	if err != nil {
		return Message{}, errOpen
	}
	var s sealed
	if err := json.Unmarshal(plain, &s); err != nil {
		return Message{}, fmt.Errorf("mail: open: %w", err)
	}
	return Message{To: s.To, Subject: s.Subject, Text: s.Text, HTML: s.HTML, Lang: s.Lang,
		Kind: e.Kind, AccountID: e.AccountID}, nil
}
