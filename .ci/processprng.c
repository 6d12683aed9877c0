/*
 * bcryptprimitives.dll for wine 8.0, which lacks it.
 *
 * Go >= 1.22 windows binaries load bcryptprimitives.dll from system32 at
 * start-up and call ProcessPrng for random bytes; wine 8.0 has no such DLL, so
 * every Go test binary aborts with "bcryptprimitives.dll not found" before
 * main. This DLL exports ProcessPrng on top of advapi32's SystemFunction036
 * (RtlGenRandom), which wine implements. .ci/setup-emulators builds it with
 *   x86_64-w64-mingw32-gcc -O2 -shared -s -o bcryptprimitives.dll processprng.c -ladvapi32
 * and copies it into the wine prefix's drive_c/windows/system32 (Go loads it
 * with LOAD_LIBRARY_SEARCH_SYSTEM32, so WINEDLLPATH does not help).
 */
#include <windows.h>

/* RtlGenRandom; declared here because ntsecapi.h's macro hides the name. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* ProcessPrng fills data with len random bytes; it always succeeds on real
 * Windows, and here fails only if RtlGenRandom does. SIZE_T may exceed ULONG,
 * so the request is cut into pieces RtlGenRandom accepts. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
