namespace AlphabetLstm.Cli;

/// <summary>
/// A training run in the shell, whichever command started it (an experiment's <c>train</c> and
/// <c>resume</c>, or a text's): the checkpoint folder it holds, and its epochs reported and
/// checkpointed. ModelCommands and TextCommands both use it, and neither calls the other for it.
/// The rules of the run (when it diverged, when a checkpoint is due) are the core's; this prints
/// them and writes the files.
/// </summary>
public static class RunFolder
{
    /// <summary>The checkpoint's name in its folder.</summary>
    public const string CheckpointFileName = "checkpoint.json";

    /// <summary>
    /// Runs <paramref name="train"/> writing checkpoints into <paramref name="dir"/>: refuses a file, a
    /// folder that already holds a run, and a model path inside it; holds the folder's lock for the
    /// whole run; removes a folder it created when the run fails before its first checkpoint.
    /// </summary>
    public static int InCheckpointFolder(string dir, string savePath, string command, Func<int> train)
    {
        if (File.Exists(dir)) throw new FailureException($"--checkpoint '{dir}' is a file, expected a folder");
        RefuseSaveInFolder("--save", savePath, dir);
        if (File.Exists(Path.Combine(dir, CheckpointFileName))) throw AlreadyHoldsRun(dir);
        AtomicFile.EnsureWritableFolder(dir, "--checkpoint");
        var created = !Directory.Exists(dir);
        var folderLock = CheckpointLock.Acquire(dir, command);
        var ok = false;
        try
        {
            // Checked again under the lock: another run may have started in between.
            if (File.Exists(Path.Combine(dir, CheckpointFileName))) throw AlreadyHoldsRun(dir);
            var code = train();
            ok = true;
            return code;
        }
        finally
        {
            folderLock.Release(removeFolder: created && !ok && !File.Exists(Path.Combine(dir, CheckpointFileName)));
        }
    }

    private static FailureException AlreadyHoldsRun(string dir) =>
        new($"--checkpoint '{dir}' already holds a checkpoint; continue it with `resume {dir}` or choose an empty folder");

    /// <summary>Refuses a model file path that is the checkpoint (or a lock file) of the folder.</summary>
    public static void RefuseSaveInFolder(string option, string savePath, string dir)
    {
        if (Safety.SameFile(savePath, Path.Combine(dir, CheckpointFileName)))
            throw new FailureException($"{option} '{savePath}' is the checkpoint file of '{dir}'; the model must go to another file, so the checkpoint is not overwritten");
        if (CheckpointLock.IsLockFile(dir, savePath))
            throw new FailureException($"{option} '{savePath}' is a lock file of the checkpoint folder '{dir}'; choose another file");
    }

    /// <summary>
    /// The epochs of a run (an experiment or a text), reported to <paramref name="progress"/> and
    /// checkpointed into <paramref name="dir"/> when the run's cadence says so; returns the state after
    /// the last. An epoch the core's divergence rule stops (a non-finite loss or weight) ends the run
    /// with a one-line error before anything of that epoch is written.
    /// </summary>
    public static TrainingState RunEpochs(IEnumerable<EpochOutcome> outcomes, TrainingState start, RunSettings run, InputSpec input, string save, string? dir, ProgressLine progress)
    {
        var state = start;
        var lastCheckpoint = dir is not null && File.Exists(Path.Combine(dir, CheckpointFileName)) ? state.Epoch : (int?)null;
        foreach (var outcome in outcomes)
        {
            if (outcome.TryGetDivergence(out var at, out var what))
            {
                var kept = dir is null ? "no checkpoint was asked for"
                         : lastCheckpoint is { } k ? $"the last good checkpoint (epoch {k}) is kept in '{dir}'"
                         : $"no checkpoint had been written to '{dir}' yet";
                throw new FailureException($"{what} at epoch {at}; training stopped and no model was saved; {kept}");
            }
            progress.Report(outcome.Report);
            state = outcome.State;
            if (dir is not null && run.CheckpointsAfter(state.Epoch))
            {
                AtomicFile.WriteAllText(Path.Combine(dir, CheckpointFileName), new Checkpoint(run, input, state, save).Serialize());
                lastCheckpoint = state.Epoch;
            }
        }
        progress.Done(0);
        return state;
    }
}
