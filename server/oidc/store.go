package oidc

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound means no live document has this key.
var ErrNotFound = errors.New("oidc: not found")

// ErrExists means a document with this key was already inserted: another
// instance won the race (a signing key of the same generation).
var ErrExists = errors.New("oidc: already exists")

// Request is an authorization request between the application's redirect
// to Sésame and the code it gets back. Key is the SHA-256 of its id: the id
// travels in the browser's URLs, the database holds only its hash.
type Request struct {
	Key                 string
	ClientID            string
	RedirectURI         string
	State               string
	Nonce               string
	Scopes              []string
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	// MaxAge is the application's max_age in seconds; -1 when it sent
	// none (prompt=login makes it 0).
	MaxAge    int64
	LoginHint string
	CreatedAt time.Time
	ExpiresAt time.Time
	// AccountID, Subject (the account's sub) and AuthTime are set once the
	// person signed in (Done).
	AccountID string
	Subject   string
	AuthTime  time.Time
	// Locale is the language the person used Sésame in (fr, en).
	Locale string
	Done   bool
}

// Requests keeps authorization requests.
type Requests interface {
	CreateRequest(ctx context.Context, r Request) error
	// Request returns the request whose key is key, expired or not, or
	// ErrNotFound.
	Request(ctx context.Context, key string) (Request, error)
	// CompleteRequest records who signed in (account and sub) and when, and
	// the request's new deadline (a code is short-lived).
	CompleteRequest(ctx context.Context, key, accountID, subject, locale string, authTime, expires time.Time) error
	DeleteRequest(ctx context.Context, key string) error
	// ClaimCode reports whether this call is the first to exchange the code
	// of request key, on every instance sharing the store.
	ClaimCode(ctx context.Context, key string, expires time.Time) (bool, error)
}

// Token kinds.
const (
	KindAccess  = "access"
	KindRefresh = "refresh"
)

// Token is an access or refresh token. Key is the SHA-256 of the token's
// id (access) or of the token itself (refresh). Family is the key of the
// authorization request the tokens descend from: a reused code or
// refresh token revokes the whole family.
type Token struct {
	Key       string
	Kind      string
	Family    string
	ClientID  string
	AccountID string
	// Subject is the account's sub, as the request that started the family
	// carried it.
	Subject   string
	Scopes    []string
	Audience  []string
	AMR       []string
	AuthTime  time.Time
	Locale    string
	ExpiresAt time.Time
}

// Tokens keeps access and refresh tokens.
type Tokens interface {
	CreateToken(ctx context.Context, t Token) error
	// Token returns the token whose key is key, expired or not, or
	// ErrNotFound.
	Token(ctx context.Context, key string) (Token, error)
	DeleteToken(ctx context.Context, key string) error
	// ClaimRefresh reports whether this call is the first to use refresh
	// token key: rotation gives each refresh token one use.
	ClaimRefresh(ctx context.Context, key string, expires time.Time) (bool, error)
	// RevokeFamily deletes every token of family and marks it revoked until
	// expires, so that a token issued concurrently is found out.
	RevokeFamily(ctx context.Context, family string, expires time.Time) error
	FamilyRevoked(ctx context.Context, family string) (bool, error)
	// RevokeAccount deletes every token of an account.
	RevokeAccount(ctx context.Context, accountID string) error
}

// Grants remember which applications a person signed in to, so that a
// sign-out tells only those (back-channel logout).
type Grants interface {
	RecordGrant(ctx context.Context, accountID, clientID string, expires time.Time) error
	// TakeGrant deletes the grant and reports whether there was a live one.
	TakeGrant(ctx context.Context, accountID, clientID string) (bool, error)
}

// SealedKey is a signing key as stored: its private key encrypted under a
// key derived from SESAME_SECRET, with the document's id as additional
// data.
type SealedKey struct {
	// ID is the generation's name ("sig-20537"): every instance computes
	// the same one, and the unique insert lets one of them create it.
	ID        string
	KeyID     string
	Algorithm string
	Sealed    []byte
	CreatedAt time.Time
	// ExpiresAt is when the key leaves the key set: the end of its
	// generation plus the longest life of what it signed.
	ExpiresAt time.Time
}

// Keys keeps signing keys.
type Keys interface {
	// InsertKey stores k, or returns ErrExists if its ID is taken.
	InsertKey(ctx context.Context, k SealedKey) error
	// Key returns the key whose ID is id, or ErrNotFound.
	Key(ctx context.Context, id string) (SealedKey, error)
}

// Logout is a back-channel logout waiting for delivery to a client.
type Logout struct {
	ID            string
	ClientID      string
	AccountID     string
	Attempts      int
	NextAttemptAt time.Time
	// ExpiresAt is when delivery is given up.
	ExpiresAt time.Time
}

// Logouts is the queue of back-channel logouts.
type Logouts interface {
	QueueLogout(ctx context.Context, l Logout) error
	// DueLogouts returns up to limit logouts whose NextAttemptAt is past.
	DueLogouts(ctx context.Context, now time.Time, limit int) ([]Logout, error)
	// ClaimLogout reports whether this call is the first to make attempt
	// number attempt of logout id, on every instance.
	ClaimLogout(ctx context.Context, id string, attempt int, expires time.Time) (bool, error)
	RescheduleLogout(ctx context.Context, id string, attempts int, next time.Time) error
	DeleteLogout(ctx context.Context, id string) error
}

// Store is everything the provider keeps.
type Store interface {
	Requests
	Tokens
	Grants
	Keys
	Logouts
}
