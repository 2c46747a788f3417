package signin

import "time"

// CountHashes wraps k's password check so that a test sees every hash it
// is asked to check against; the check itself still runs.
func CountHashes(k *Checker, seen func(hash string)) {
	check := k.checkPassword
	k.checkPassword = func(hash, password string) bool {
		seen(hash)
		return check(hash, password)
	}
}

// DummyHash returns the hash an unknown email is checked against.
func DummyHash(k *Checker) string {
	h, _ := k.dummy()
	return h
}

// SetNow makes k read the time from now.
func SetNow(k *Checker, now func() time.Time) { k.now = now }

// AddressKey exposes addressKey.
var AddressKey = addressKey

// MaxAddresses exposes maxAddresses.
const MaxAddresses = maxAddresses

// ReserveAddress counts an attempt from addr in k's in-memory counter and
// returns how many addresses it tracks.
func ReserveAddress(k *Checker, addr string, now time.Time) (allowed bool, tracked int) {
	_, allowed = k.addrs.reserve(addr, now)
	k.addrs.mu.Lock()
	defer k.addrs.mu.Unlock()
	return allowed, len(k.addrs.m)
}
