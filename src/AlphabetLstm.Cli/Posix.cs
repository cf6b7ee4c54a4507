using System.Runtime.InteropServices;

namespace AlphabetLstm.Cli;

/// <summary>
/// The few Linux calls the shell's file rules need and .NET does not expose: a file's type and
/// identity (statx, following links or on an open descriptor), an open that never blocks (a FIFO
/// without a writer), and a path with every link and <c>..</c> resolved (realpath). Elsewhere than
/// Linux each returns null and the callers fall back to .NET's own calls.
/// </summary>
internal static class Posix
{
    public enum Kind { Regular, Directory, CharacterDevice, BlockDevice, Fifo, Socket, Link, Other }

    public readonly record struct FileStat(Kind Kind, long Size, ulong Device, ulong Inode);

    /// <summary>The file <paramref name="path"/> names (links followed), or null when it cannot be read.</summary>
    public static FileStat? Stat(string path) => StatAt(AtCwd, path, 0);

    /// <summary>The file an open descriptor reads.</summary>
    public static FileStat? Stat(int fd) => StatAt(fd, "", AtEmptyPath);

    private const int AtCwd = -100, AtEmptyPath = 0x1000;

    private static FileStat? StatAt(int dirfd, string path, int flags)
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            // struct statx has the same layout on every Linux architecture.
            var buf = new byte[256];
            if (NativeStatx(dirfd, path, flags, 0x1 | 0x100 | 0x200 /* STATX_TYPE | STATX_INO | STATX_SIZE */, buf) != 0) return null;
            var mode = BitConverter.ToUInt16(buf, 28);
            var inode = BitConverter.ToUInt64(buf, 32);
            var size = BitConverter.ToInt64(buf, 40);
            var device = ((ulong)BitConverter.ToUInt32(buf, 136) << 32) | BitConverter.ToUInt32(buf, 140);
            var kind = (mode & 0xF000) switch
            {
                0x8000 => Kind.Regular, 0x4000 => Kind.Directory, 0x2000 => Kind.CharacterDevice, 0x6000 => Kind.BlockDevice,
                0x1000 => Kind.Fifo, 0xC000 => Kind.Socket, 0xA000 => Kind.Link, _ => Kind.Other,
            };
            return new FileStat(kind, size, device, inode);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// Opens for reading without ever blocking in open (O_NONBLOCK, so a FIFO without a writer opens at
    /// once), then makes reads blocking again (a pipe being fed waits for its bytes; one without a writer
    /// reads as its end). Returns the descriptor, or the errno.
    /// </summary>
    public static (int Fd, int Errno) OpenForReading(string path)
    {
        const int NonBlock = 0x800, CloseOnExec = 0x80000, NoControllingTerminal = 0x100, GetFlags = 3, SetFlags = 4;
        var fd = NativeOpen(path, NonBlock | CloseOnExec | NoControllingTerminal);
        if (fd < 0) return (-1, Marshal.GetLastPInvokeError());
        var current = NativeFcntl(fd, GetFlags, 0);
        if (current >= 0) NativeFcntl(fd, SetFlags, current & ~NonBlock);
        return (fd, 0);
    }

    /// <summary>The path with every link, <c>.</c> and <c>..</c> resolved as the kernel would (it must exist), or null.</summary>
    public static string? RealPath(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            var p = NativeRealpath(path, IntPtr.Zero);
            if (p == IntPtr.Zero) return null;
            try { return Marshal.PtrToStringUTF8(p); }
            finally { NativeFree(p); }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    public const int NoSuchFile = 2, AccessDenied = 13, IsDirectory = 21, NotDirectory = 20, TooManyLinks = 40, NoDevice = 6;

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int NativeStatx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, [Out] byte[] buffer);

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int NativeOpen([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static extern int NativeFcntl(int fd, int command, int argument);

    [DllImport("libc", EntryPoint = "realpath", SetLastError = true)]
    private static extern IntPtr NativeRealpath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr resolved);

    [DllImport("libc", EntryPoint = "free")]
    private static extern void NativeFree(IntPtr pointer);
}
