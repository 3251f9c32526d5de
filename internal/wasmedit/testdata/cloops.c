// Real compiler output for the tests: loops of every shape clang emits, and
// initialised data for StripData (not static, so clang cannot fold it).
// build.sh (run by `make test`) compiles it to cloops.wasm.

__attribute__((import_module("snakepit"), import_name("yield"))) void snakepit_yield(void);

char greeting[] = "hello from the data segment";
int primes[32] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31};
int counter = 42;
static unsigned char sieve_buf[20000];
static float samples[1024];

void poke(void) { snakepit_yield(); }

int get_counter(void) { return counter; }

int greeting_sum(void) {
	int s = 0;
	for (const char *p = greeting; *p; p++)
		s += *p;
	return s;
}

int prime_sum(void) {
	int s = 0;
	for (int i = 0; i < 32; i++)
		s += primes[i];
	return s;
}

unsigned sieve(unsigned n) {
	if (n > sizeof sieve_buf)
		n = sizeof sieve_buf;
	__builtin_memset(sieve_buf, 1, n);
	unsigned count = 0;
	for (unsigned i = 2; i < n; i++) {
		if (!sieve_buf[i])
			continue;
		count++;
		for (unsigned j = i * i; j < n; j += i)
			sieve_buf[j] = 0;
	}
	return count;
}

long long collatz(unsigned limit) {
	long long total = 0;
	for (unsigned start = 1; start < limit; start++) {
		unsigned long long x = start;
		while (x != 1) {
			x = (x & 1) ? 3 * x + 1 : x / 2;
			total++;
		}
	}
	return total;
}

int switchy(int n) {
	int acc = 0;
	for (int i = 0; i < n; i++) {
		switch (i % 7) {
		case 0: acc += 3; break;
		case 1: acc ^= i; break;
		case 2: acc -= 5; break;
		case 3: acc *= 3; break;
		case 4: acc = (signed char)acc; break;
		case 5: acc += (short)i; break;
		default: acc--; break;
		}
	}
	return acc;
}

int float_sum(int n) {
	if (n > 1024)
		n = 1024;
	for (int i = 0; i < n; i++)
		samples[i] = (float)i * 1.5f;
	float s = 0;
	for (int i = 0; i < n; i++)
		s += samples[i];
	return (int)(s * 1e6f); // saturates with -mnontrapping-fptoint
}

int copy_and_sum(int n) {
	if (n > 10000)
		n = 10000;
	__builtin_memcpy(sieve_buf + 10000, sieve_buf, n);
	int s = 0;
	for (int i = 0; i < n; i++)
		s += sieve_buf[10000 + i];
	return s;
}
