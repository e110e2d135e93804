// Package signature verifies OpenPGP signatures on repository metadata:
// the detached signatures of yum/dnf repositories (repomd.xml.asc) and APT
// repositories (Release.gpg), and APT's clearsigned InRelease files.
//
// It owns the trust decision for metadata and nothing else: which keys are
// trusted is the caller's choice (a Keyring built from the files the user
// named), and what the signed bytes mean is left to the metadata parsers.
//
// # Policy
//
// A signature is accepted when at least one signature packet was made by a
// key in the keyring, verifies over the data, and the key is neither expired
// nor revoked at verification time. Following APT, a signature from a
// keyring key that does not verify fails the whole check even when another
// signature verifies, while signatures from keys outside the keyring are
// ignored when another one verifies.
//
// Signatures whose digest is MD5, SHA-1 or RIPEMD-160 are rejected with
// [ErrWeakHash], as APT and gpgv reject them for repository metadata; the
// underlying go-crypto v1 API would accept SHA-1. Key binding signatures are
// checked by go-crypto and are not subject to this digest rule, so old keys
// whose self-signatures use SHA-1 can still be loaded.
package signature

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Sentinel errors. Every error this package returns wraps one of them, so
// callers can tell with errors.Is why a check failed.
var (
	// ErrNoKeys means a keyring, or one of its files, holds no public key.
	ErrNoKeys = errors.New("signature: no OpenPGP public keys found")
	// ErrMalformed means the signature, key or clearsigned message could not be parsed.
	ErrMalformed = errors.New("signature: malformed OpenPGP data")
	// ErrMissingSignature means the data carries no signature at all.
	ErrMissingSignature = errors.New("signature: no signature found")
	// ErrBadSignature means a signature by a trusted key does not match the data: it was altered.
	ErrBadSignature = errors.New("signature: bad signature")
	// ErrUnknownKey means no signature was made by a key in the keyring.
	ErrUnknownKey = errors.New("signature: signed by a key that is not in the keyring")
	// ErrExpiredKey means the signing key (or its signing subkey) has expired.
	ErrExpiredKey = errors.New("signature: signing key has expired")
	// ErrExpiredSignature means the signature itself has passed its expiry time.
	ErrExpiredSignature = errors.New("signature: signature has expired")
	// ErrRevokedKey means the signing key has been revoked.
	ErrRevokedKey = errors.New("signature: signing key has been revoked")
	// ErrWeakHash means the signature uses a digest too weak to trust (MD5, SHA-1, RIPEMD-160).
	ErrWeakHash = errors.New("signature: signature uses a weak digest algorithm")
	// ErrTooLarge means the signed data or the signature exceeds this package's size limits.
	ErrTooLarge = errors.New("signature: input too large")
)

// Size limits: metadata documents are at most a few MB (Debian's main
// InRelease is about 150 KB); the limits only keep garbage from exhausting memory.
const (
	maxSignedBytes    = 256 << 20
	maxSignatureBytes = 1 << 20
	maxKeyFileBytes   = 32 << 20
)

// Keyring is a set of trusted OpenPGP public keys.
type Keyring struct {
	entities openpgp.EntityList
	// now is the verification time; nil means time.Now. Tests set it.
	now func() time.Time
}

// LoadKeyring reads trusted public keys from files, each armored
// ("-----BEGIN PGP PUBLIC KEY BLOCK-----", possibly several blocks) or binary
// (a keyring such as /usr/share/keyrings/debian-archive-keyring.gpg). The
// error names the file at fault. Calling it with no paths, or with files that
// hold no key, is an error.
func LoadKeyring(paths ...string) (*Keyring, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no key files given", ErrNoKeys)
	}
	k := &Keyring{}
	for _, path := range paths {
		data, err := readLimited(path)
		if err != nil {
			return nil, err
		}
		entities, err := parseKeys(data)
		if err != nil {
			return nil, fmt.Errorf("reading OpenPGP key file %s: %w", path, err)
		}
		k.entities = append(k.entities, entities...)
	}
	return k, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading OpenPGP key file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading OpenPGP key file %s: %w", path, err)
	}
	if len(data) > maxKeyFileBytes {
		return nil, fmt.Errorf("reading OpenPGP key file %s: %w: more than %d bytes", path, ErrTooLarge, maxKeyFileBytes)
	}
	return data, nil
}

// ParseKeyring reads trusted public keys, armored or binary, from r.
func ParseKeyring(r io.Reader) (*Keyring, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading OpenPGP keys: %w", err)
	}
	if len(data) > maxKeyFileBytes {
		return nil, fmt.Errorf("reading OpenPGP keys: %w: more than %d bytes", ErrTooLarge, maxKeyFileBytes)
	}
	entities, err := parseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("reading OpenPGP keys: %w", err)
	}
	return &Keyring{entities: entities}, nil
}

// Len reports how many primary keys the keyring holds.
func (k *Keyring) Len() int { return len(k.entities) }

// Fingerprints lists the primary key fingerprints in the keyring, as
// upper-case hex, in load order.
func (k *Keyring) Fingerprints() []string {
	fps := make([]string, 0, len(k.entities))
	for _, e := range k.entities {
		fps = append(fps, fmt.Sprintf("%X", e.PrimaryKey.Fingerprint))
	}
	return fps
}

var (
	armorPrefix    = []byte("-----BEGIN PGP ")
	publicKeyBegin = []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")
	publicKeyEnd   = []byte("-----END PGP PUBLIC KEY BLOCK-----")
)

// parseKeys reads every public key in data, which is armored (one or more
// public key blocks) or a binary packet stream.
func parseKeys(data []byte) (openpgp.EntityList, error) {
	// A GnuPG keybox starts with a header blob whose bytes 4..8 are "KBXf".
	if len(data) >= 8 && string(data[4:8]) == "KBXf" {
		return nil, fmt.Errorf("%w: this is a GnuPG keybox (pubring.kbx), not a keyring; export the key with 'gpg --export --armor KEYID'", ErrMalformed)
	}
	var entities openpgp.EntityList
	if bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), armorPrefix) {
		rest := data
		for {
			begin := bytes.Index(rest, publicKeyBegin)
			if begin < 0 {
				break
			}
			end := bytes.Index(rest[begin:], publicKeyEnd)
			if end < 0 {
				return nil, fmt.Errorf("%w: public key block has no END line", ErrMalformed)
			}
			end += begin + len(publicKeyEnd)
			block, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(rest[begin:end]))
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			entities = append(entities, block...)
			rest = rest[end:]
		}
		if len(entities) == 0 {
			return nil, fmt.Errorf("%w: the armored file has no PUBLIC KEY BLOCK; export one with 'gpg --export --armor KEYID'", ErrNoKeys)
		}
		return entities, nil
	}
	entities, err := openpgp.ReadKeyRing(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(entities) == 0 {
		return nil, ErrNoKeys
	}
	return entities, nil
}
