package oidc

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sesame-edu/sesame/server/keys"
)

// Signing keys live in generations of KeyRotation: generation n signs from
// n×KeyRotation to (n+1)×KeyRotation. Every instance computes the same
// generation from the clock, and the first to need a generation's key
// creates it with a unique insert, so that instances sharing a store agree
// without talking to each other. A key is published KeyOverlap before its
// generation starts (applications that cached the key set know it when it
// starts signing) and stays published KeyOverlap after it ends (what it
// signed has expired by then).
type keyRing struct {
	store    Keys
	aead     cipher.AEAD
	rotation time.Duration
	overlap  time.Duration
	now      func() time.Time

	mu    sync.Mutex
	cache map[int64]*signingKey
}

// signingKey is an opened key; it implements op.SigningKey and op.Key.
type signingKey struct {
	id        string
	alg       jose.SignatureAlgorithm
	private   *rsa.PrivateKey
	expiresAt time.Time
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k *signingKey) Algorithm() jose.SignatureAlgorithm          { return k.alg }
func (k *signingKey) ID() string                                  { return k.id }
func (k *signingKey) Use() string                                 { return "sig" }

// Key is the private key when signing; KeySet hands out publicKey instead.
func (k *signingKey) Key() any { return k.private }

type publicKey struct{ *signingKey }

func (k publicKey) Key() any { return &k.private.PublicKey }

func newKeyRing(store Keys, secret []byte, rotation, overlap time.Duration, now func() time.Time) *keyRing {
	block, err := aes.NewCipher(keys.Derive(secret, "oidc-signing-keys"))
	if err != nil {
		panic(fmt.Sprintf("oidc: %v", err)) // unreachable: Derive returns 32 bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(fmt.Sprintf("oidc: %v", err)) // unreachable: AES has a 16-byte block
	}
	return &keyRing{store: store, aead: aead, rotation: rotation, overlap: overlap, now: now, cache: map[int64]*signingKey{}}
}

func (r *keyRing) generation(t time.Time) int64 { return t.UnixNano() / int64(r.rotation) }

func (r *keyRing) start(gen int64) time.Time { return time.Unix(0, gen*int64(r.rotation)) }

// signing returns the key of the current generation, creating it if no
// instance has yet.
func (r *keyRing) signing(ctx context.Context) (*signingKey, error) {
	return r.get(ctx, r.generation(r.now()), true)
}

// published returns the keys of the key set: the current generation's,
// the previous one's until it expires, and the next one's from KeyOverlap
// before it starts signing.
func (r *keyRing) published(ctx context.Context) ([]*signingKey, error) {
	now := r.now()
	gen := r.generation(now)
	cur, err := r.get(ctx, gen, true)
	if err != nil {
		return nil, err
	}
	out := []*signingKey{cur}
	if !now.Before(r.start(gen + 1).Add(-r.overlap)) {
		next, err := r.get(ctx, gen+1, true)
		if err != nil {
			return nil, err
		}
		out = append(out, next)
	}
	if now.Before(r.start(gen).Add(r.overlap)) {
		prev, err := r.get(ctx, gen-1, false)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if prev != nil && now.Before(prev.expiresAt) {
			out = append(out, prev)
		}
	}
	return out, nil
}

// get returns generation gen's key from the cache or the store, creating
// it when create is set and no instance has.
func (r *keyRing) get(ctx context.Context, gen int64, create bool) (*signingKey, error) {
	r.mu.Lock()
	k := r.cache[gen]
	r.mu.Unlock()
	if k != nil {
		return k, nil
	}
	id := "sig-" + strconv.FormatInt(gen, 10)
	sk, err := r.store.Key(ctx, id)
	if errors.Is(err, ErrNotFound) && create {
		sk, err = r.create(ctx, gen, id)
	}
	if err != nil {
		return nil, err
	}
	k, err = r.open(sk)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.cache[gen] = k
	// Generations more than one behind are never asked for again.
	for g := range r.cache {
		if g < gen-1 {
			delete(r.cache, g)
		}
	}
	r.mu.Unlock()
	return k, nil
}

// create makes generation gen's key; when another instance inserted one
// first, its key is the one everybody uses.
func (r *keyRing) create(ctx context.Context, gen int64, id string) (SealedKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return SealedKey{}, fmt.Errorf("oidc: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return SealedKey{}, fmt.Errorf("oidc: encode signing key: %w", err)
	}
	nonce := make([]byte, r.aead.NonceSize(), r.aead.NonceSize()+len(der)+r.aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand never fails; it crashes the program instead
	sk := SealedKey{
		ID: id, KeyID: keys.RandomHex(8), Algorithm: string(jose.RS256),
		Sealed:    r.aead.Seal(nonce, nonce, der, []byte(id)),
		CreatedAt: r.now(), ExpiresAt: r.start(gen + 1).Add(r.overlap),
	}
	err = r.store.InsertKey(ctx, sk)
	if errors.Is(err, ErrExists) {
		return r.store.Key(ctx, id)
	}
	if err != nil {
		return SealedKey{}, fmt.Errorf("oidc: store signing key: %w", err)
	}
	return sk, nil
}

// errKeyOpen is a stored key that does not open: SESAME_SECRET changed,
// or the document was tampered with.
var errKeyOpen = errors.New("oidc: signing key does not open (SESAME_SECRET changed, or the key was tampered with)")

func (r *keyRing) open(sk SealedKey) (*signingKey, error) {
	n := r.aead.NonceSize()
	if len(sk.Sealed) < n+r.aead.Overhead() {
		return nil, errKeyOpen
	}
	der, err := r.aead.Open(nil, sk.Sealed[:n], sk.Sealed[n:], []byte(sk.ID))
	if err != nil {
		return nil, errKeyOpen
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("oidc: parse signing key: %w", err)
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("oidc: signing key %s is not RSA", sk.ID)
	}
	return &signingKey{id: sk.KeyID, alg: jose.SignatureAlgorithm(sk.Algorithm), private: priv, expiresAt: sk.ExpiresAt}, nil
}

// keySet is the published keys as op.Key values holding public keys.
func (r *keyRing) keySet(ctx context.Context) ([]op.Key, error) {
	ks, err := r.published(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]op.Key, len(ks))
	for i, k := range ks {
		out[i] = publicKey{k}
	}
	return out, nil
}
