namespace AlphabetLstm.Cli;

/// <summary>One part given to <c>merge</c>: its file, the build that wrote it, which shard it is, and its runs.</summary>
public sealed record ShardPart<TRun>(string Path, string Program, ResultsJson.ShardDto? Shard, IReadOnlyList<TRun> Runs);

/// <summary>
/// The checks <c>merge</c> makes for experiment plans and sweeps alike: one build, one plan, one shard
/// count, every shard at most once, every run of the plan exactly once and in the shard it belongs to
/// (run k of the plan in shard k mod N). Each failure is one line naming the files and the run.
/// </summary>
public static class ShardJoin
{
    /// <summary>
    /// The runs in plan order, or a <see cref="FailureException"/> naming what does not fit.
    /// <paramref name="difference"/> tells, for part i, how its settings differ from part 0's (null: the same).
    /// </summary>
    public static IReadOnlyList<TRun> Join<TRun>(
        IReadOnlyList<ShardPart<TRun>> parts, Func<int, string?> difference,
        IReadOnlyList<string> plannedKeys, Func<TRun, string> keyOf, string planned)
    {
        var (runs, missing) = Collect(parts, difference, plannedKeys, keyOf, planned);
        if (missing.Count > 0) throw new FailureException(MissingMessage(parts, plannedKeys, missing));
        return runs;
    }

    /// <summary>
    /// The shard indices (0-based) that hold at least one run no part has, in order: the shards to
    /// run again. The other checks fail as in <see cref="Join"/>.
    /// </summary>
    public static IReadOnlyList<int> MissingShards<TRun>(
        IReadOnlyList<ShardPart<TRun>> parts, Func<int, string?> difference,
        IReadOnlyList<string> plannedKeys, Func<TRun, string> keyOf, string planned)
    {
        var count = parts[0].Shard?.Count ?? 1;
        var (_, missing) = Collect(parts, difference, plannedKeys, keyOf, planned);
        return missing.Select(k => ExperimentPlan.ShardOf(k, count)).Distinct().Order().ToList();
    }

    private static (IReadOnlyList<TRun> Runs, IReadOnlyList<int> Missing) Collect<TRun>(
        IReadOnlyList<ShardPart<TRun>> parts, Func<int, string?> difference,
        IReadOnlyList<string> plannedKeys, Func<TRun, string> keyOf, string planned)
    {
        var first = parts[0];
        for (var i = 1; i < parts.Count; i++)
        {
            var part = parts[i];
            if (part.Program != first.Program)
                throw new FailureException($"'{part.Path}' was written by {part.Program}, but '{first.Path}' by {first.Program}: run every shard with one build");
            if (difference(i) is { } d)
                throw new FailureException($"'{part.Path}' and '{first.Path}' come from different runs: {d}");
            var (n, n0) = (part.Shard?.Count ?? 1, first.Shard?.Count ?? 1);
            if (n != n0)
                throw new FailureException($"'{part.Path}' is {ShardName(part.Shard)} but '{first.Path}' is {ShardName(first.Shard)}: the parts were split into different numbers of shards");
        }
        var count = first.Shard?.Count ?? 1;
        var byShard = new Dictionary<int, string>();
        foreach (var part in parts)
        {
            var index = part.Shard?.Index ?? 0;
            if (byShard.TryGetValue(index, out var other))
                throw new FailureException($"shard {index}/{count} is given twice: '{other}' and '{part.Path}'");
            byShard[index] = part.Path;
        }

        var place = new Dictionary<string, int>();
        for (var k = 0; k < plannedKeys.Count; k++) place[plannedKeys[k]] = k;
        var found = new Dictionary<int, (string Path, TRun Run)>();
        foreach (var part in parts)
            foreach (var run in part.Runs)
            {
                var key = keyOf(run);
                if (!place.TryGetValue(key, out var k))
                    throw new FailureException($"'{part.Path}' holds run {key}, which its settings do not plan ({planned})");
                if (found.TryGetValue(k, out var seen))
                    throw new FailureException($"run {key} is doubled: it is in '{seen.Path}' and in '{part.Path}'");
                if (ExperimentPlan.ShardOf(k, count) != (part.Shard?.Index ?? 0))
                    throw new FailureException($"'{part.Path}' ({ShardName(part.Shard)}) holds run {key}, which belongs to shard {ExperimentPlan.ShardOf(k, count)}/{count}");
                found[k] = (part.Path, run);
            }
        var missing = Enumerable.Range(0, plannedKeys.Count).Where(k => !found.ContainsKey(k)).ToList();
        var runs = missing.Count > 0 ? [] : Enumerable.Range(0, plannedKeys.Count).Select(k => found[k].Run).ToList();
        return (runs, missing);
    }

    private static string MissingMessage<TRun>(IReadOnlyList<ShardPart<TRun>> parts, IReadOnlyList<string> plannedKeys, IReadOnlyList<int> missing)
    {
        var count = parts[0].Shard?.Count ?? 1;
        var present = parts.Select(p => p.Shard?.Index ?? 0).ToHashSet();
        var shards = missing.Select(k => ExperimentPlan.ShardOf(k, count)).Distinct().Order().ToList();
        var absent = shards.Where(s => !present.Contains(s)).ToList();
        var where = absent.Count > 0
            ? $"no part is shard {string.Join(", ", absent.Select(s => $"{s}/{count}"))}"
            : $"shard {string.Join(", ", shards.Select(s => $"{s}/{count}"))} lacks it";
        return $"run {plannedKeys[missing[0]]}{(missing.Count > 1 ? $" (and {missing.Count - 1} more)" : "")} is missing: {where}";
    }

    public static string ShardName(ResultsJson.ShardDto? s) => s is null ? "a whole (unsharded) run" : $"shard {s.Index}/{s.Count}";
}
