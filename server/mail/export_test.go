package mail

import "crypto/x509"

// TrustRoots makes s trust roots, for tests against a server with a
// certificate of their own.
func TrustRoots(s *SMTPSender, roots *x509.CertPool) { s.tlsConfig.RootCAs = roots }

// NewMemStore gives the external contract test the in-memory fake.
func NewMemStore() Store { return newMemStore() }
