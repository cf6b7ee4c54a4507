using System.CommandLine;
using MathNet.Numerics.LinearAlgebra;

namespace AlphabetLstm.Cli;

/// <summary>
/// The commands around model files and checkpoints:
/// <c>train</c> (save a model, optionally checkpointing), <c>resume</c>, <c>predict</c> and <c>generate</c>.
/// Every file is read whole and checked by the core's parsers before anything is computed, and
/// every file is written atomically, after all checks, so a bad input never leaves a file behind.
/// </summary>
public static class ModelCommands
{

    /// <summary>The checkpoint's name in its folder (<see cref="RunFolder.CheckpointFileName"/>).</summary>
    private const string CheckpointFileName = RunFolder.CheckpointFileName;

    public static IEnumerable<Command> Create(TextWriter stdout) =>
        [Train(stdout), Resume(stdout), Predict(stdout), Generate(stdout)];

    // ---- train --------------------------------------------------------------------------------

    private static Command Train(TextWriter stdout)
    {
        var id = new Argument<string?>("id") { Description = $"One of {string.Join(", ", Experiments.Ids)} (or give --text FILE).", Arity = ArgumentArity.ZeroOrOne };
        id.Validators.Add(result =>
        {
            var value = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (result.Tokens.Count > 0 && !Experiments.Ids.Contains(value))
                result.AddError(Experiments.UnknownMessage(value));
        });
        var save = new Option<string>("--save") { Description = "The model file to write when training ends.", Required = true };
        var seed = Cli.WholeNumber("--seed", "The seed (default 1).");
        var epochs = Cli.PositiveInt("--epochs", "Override the experiment's number of epochs.", Limits.MaxEpochs);
        var units = Cli.PositiveInt("--units", "Override the experiment's number of LSTM units.", Limits.MaxUnits);
        var mask = new Option<bool>("--mask") { Description = "Mask padded steps (they leave the state unchanged)." };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Write checkpoints to DIR, so `resume DIR` can continue the run." };
        var every = Cli.PositiveInt("--checkpoint-every", "Epochs between checkpoints (default 10; the last epoch is always checkpointed).", Limits.MaxEpochs);
        var learningRate = Cli.LearningRate("Adam's learning rate (default 0.001).");
        learningRate.Hidden = true;
        var quiet = new Option<bool>("--quiet") { Description = "Print no progress lines." };
        var threads = Cli.PositiveInt("--threads", "Threads for one training step where the step is large enough to pay (default 1); the model is the same.");
        var precision = Cli.Precision("float32 or float64: the number type of the run and of the model saved (default float64 for an experiment, float32 for --text).");

        var text = new TextCommands.TrainOptions();
        var command = new Command("train", "Train an experiment, or your own text (--text FILE), and save the model to a file.")
        {
            id, save, seed, epochs, units, mask, checkpoint, every, learningRate, quiet, threads, precision,
        };
        foreach (var option in text.All) command.Options.Add(option);
        command.SetAction(parse =>
        {
            var dir = parse.GetValue(checkpoint);
            if (dir is null && parse.GetValue(every) is not null)
                throw new UsageException("--checkpoint-every needs --checkpoint DIR");
            if ((parse.GetValue(id) is null) == (parse.GetValue(text.Text) is null))
                throw new UsageException($"train needs an experiment id ({string.Join(", ", Experiments.Ids)}) or --text FILE, one of them");
            if (parse.GetValue(text.Text) is not null)
                return TextCommands.Train(parse, text, new TextCommands.Shared(
                    parse.GetValue(save)!, parse.GetValue(seed) ?? 1, parse.GetValue(epochs), parse.GetValue(units), parse.GetValue(learningRate),
                    parse.GetValue(mask), dir, parse.GetValue(every) ?? 10, parse.GetValue(quiet), parse.GetValue(threads) ?? 1,
                    parse.GetValue(precision) ?? TextCommands.DefaultPrecision), stdout);
            text.RefuseWithExperiment(parse);
            var spec = Experiments.Find(parse.GetValue(id)!);
            var savePath = parse.GetValue(save)!;
            AtomicFile.EnsureWritableFileTarget(savePath, "--save");
            var run = RunSettings.ForExperiment(
                spec.Id, parse.GetValue(seed) ?? 1,
                parse.GetValue(epochs) ?? spec.Epochs, parse.GetValue(units) ?? spec.Units,
                parse.GetValue(mask) || spec.Masked, parse.GetValue(learningRate) ?? AdamConfig.Keras.LearningRate,
                parse.GetValue(every) ?? 10, parse.GetValue(precision) ?? Precision.Float64);
            Safety.CheckTraining(spec.WithEpochs(run.Epochs).WithUnits(run.Units).WithMasked(run.Masked), $"train {spec.Id} with {run.Units} units");
            var target = Path.GetFullPath(savePath);
            if (dir is null) return RunTraining(CheckpointFile.Prepare(run).WithThreads(parse.GetValue(threads) ?? 1), run, target, null, parse.GetValue(quiet), stdout);

            return RunFolder.InCheckpointFolder(dir, savePath, "train",
                () => RunTraining(CheckpointFile.Prepare(run).WithThreads(parse.GetValue(threads) ?? 1), run, target, dir, parse.GetValue(quiet), stdout));
        });
        return command;
    }

    // ---- resume -------------------------------------------------------------------------------

    private static Command Resume(TextWriter stdout)
    {
        var dir = new Argument<string>("dir") { Description = "A checkpoint folder written by `train --checkpoint DIR`." };
        var save = new Option<string?>("--save")
        {
            Description = "Write the model to FILE instead of the path the checkpoint recorded (needed when that path is the checkpoint, or holds a file that is not a model).",
        };
        var quiet = new Option<bool>("--quiet") { Description = "Print no progress lines." };
        var precision = Cli.Precision("float32 or float64: the precision the checkpoint records (a resume trains on in it; naming another is refused).");
        var command = new Command("resume", "Continue a checkpointed training run exactly where its last checkpoint left it.") { dir, save, quiet, precision };
        command.SetAction(parse =>
        {
            var folder = parse.GetValue(dir)!;
            if (!Directory.Exists(folder))
                throw new FailureException($"'{folder}' is not a folder: expected a checkpoint folder written by train --checkpoint");
            var file = Path.Combine(folder, CheckpointFileName);
            if (!File.Exists(file))
                throw new FailureException($"'{folder}' holds no {CheckpointFileName}: nothing to resume");
            using var folderLock = CheckpointLock.Acquire(folder, "resume");
            if (!Checkpoint.TryParse(InputFile.ReadText(file, "checkpoint"), out var c, out var error))
                throw new FailureException($"checkpoint '{file}': {error}");
            var run = c.Run;
            if (parse.GetValue(precision) is { } asked && asked != run.Precision)
                throw new FailureException(
                    $"--precision {ModelFile.PrecisionName(asked)}: the checkpoint in '{folder}' trains in {ModelFile.PrecisionName(run.Precision)}; a resume goes on in the checkpoint's precision (drop --precision, or start a new run)");
            var target = Path.GetFullPath(ResumeTarget(c.Save, parse.GetValue(save), folder));
            OutputRule.Guard([parse.GetValue(save) is { } given ? new("--save", given) : new("the checkpoint's recorded model file", target)],
                             [new("the checkpoint", file), new("the run's text", run.TextOrNull?.Path)]);
            if (run.Kind == RunKind.Experiment)
                Safety.CheckTraining(Experiments.Find(run.Experiment).WithEpochs(run.Epochs).WithUnits(run.Units).WithMasked(run.Masked),
                                     $"resume {folder} ({run.Experiment} with {run.Units} units)");
            var resumed = new Checkpoint(run, c.Input, c.State, target);
            RemoveStaleTemporaries(folder);
            if (run.Kind == RunKind.Text) return TextCommands.Resume(resumed, folder, parse.GetValue(quiet), stdout);
            stdout.WriteLine($"resuming {run.Experiment} (seed {run.Seed}) after epoch {c.State.Epoch} of {run.Epochs}");
            return RunTraining(CheckpointFile.Resume(resumed), run, target, folder, parse.GetValue(quiet), stdout);
        });
        return command;
    }

    /// <summary>
    /// Where <c>resume</c> may write the model: <c>--save</c> when given (never the checkpoint or its
    /// lock); else the recorded path, only when it is not the checkpoint and either does not exist or
    /// already holds a model file of ours. An edited checkpoint cannot make resume overwrite anything else.
    /// </summary>
    private static string ResumeTarget(string recorded, string? save, string folder)
    {
        if (save is not null)
        {
            RunFolder.RefuseSaveInFolder("--save", save, folder);
            AtomicFile.EnsureWritableFileTarget(save, "--save");
            return save;
        }
        var ask = "; pass --save FILE to choose where the model goes";
        if (Safety.SameFile(recorded, Path.Combine(folder, CheckpointFileName)) || CheckpointLock.IsLockFile(folder, recorded))
            throw new FailureException($"the checkpoint's recorded model file '{recorded}' is a file of the checkpoint folder itself{ask}");
        if (Directory.Exists(recorded))
            throw new FailureException($"the checkpoint's recorded model file '{recorded}' is a folder{ask}");
        if (File.Exists(recorded))
        {
            string text;
            try { text = InputFile.ReadText(recorded, "the recorded model file"); }
            catch (FailureException e) { throw new FailureException($"{e.Message}{ask}"); }
            if (!SavedModel.TryParse(text, out _, out _))
                throw new FailureException($"the checkpoint's recorded model file '{recorded}' exists and is not an alphabet-lstm model file, so resume will not overwrite it{ask}");
        }
        AtomicFile.EnsureWritableFileTarget(recorded, "the model file");
        return recorded;
    }

    /// <summary>
    /// Trains from <paramref name="prepared"/>.Start to the last epoch, checkpointing into
    /// <paramref name="dir"/> (when given) every <c>run.CheckpointEvery</c> epochs and after the last,
    /// then writes the model. A non-finite loss or weight stops the run before anything of that epoch
    /// is written, so the last checkpoint on disk is the last good one.
    /// </summary>
    private static int RunTraining(PreparedExperiment prepared, RunSettings run, string save, string? dir, bool quiet, TextWriter o)
    {
        var spec = prepared.Spec;
        o.WriteLine($"train {spec.Id} (seed {run.Seed}): {RunPrinter.Describe(spec)}{(run.Precision == Precision.Float32 ? ", float32" : "")}");
        var progress = new ProgressLine(o, run.Epochs, quiet, spec.StepsPerEpoch, prepared.Start.Epoch);
        var input = Experiments.InputOf(spec);
        var state = RunFolder.RunEpochs(Experiments.Fit(prepared), prepared.Start, run, input, save, dir, progress);
        AtomicFile.WriteAllText(save, SavedModel.Create(Vocabulary.Alphabet, input, state.Parameters, run.Precision).Serialize());
        var result = Experiments.Analyse(prepared, state);
        o.WriteLine($"accuracy {RunPrinter.Percent(result.Accuracy)} on the training data after {state.Epoch} epochs");
        o.WriteLine($"saved {Display.Escape(save)}");
        return ExitCodes.Ok;
    }

    /// <summary>Temporary files a killed writer left beside the checkpoint (the checkpoint itself is always whole).</summary>
    private static void RemoveStaleTemporaries(string dir)
    {
        foreach (var temp in Directory.GetFiles(dir, $".{CheckpointFileName}.*.tmp"))
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    // ---- predict ------------------------------------------------------------------------------

    private static Command Predict(TextWriter stdout)
    {
        var model = new Option<string>("--model") { Description = "A model file written by train (or exported from Keras or PyTorch).", Required = true };
        var sequence = new Option<string?>("--sequence") { Description = "The symbols to read: characters as written (ABC), or for a vocabulary of words the words separated by commas (do,re,mi), as import --vocabulary takes them. Prints the next symbol and the top three probabilities." };
        var inputs = new Option<string?>("--inputs") { Description = "Raw inputs: a JSON file holding [batch][time step][feature] numbers." };
        var state = new Option<string?>("--state") { Description = "With --inputs: the initial state, a JSON file { \"h\": [batch][units], \"c\": [batch][units] }, or { \"layers\": [ { \"h\", \"c\" }, … ] } bottom first for a stacked model (zeros when absent)." };
        var json = new Option<string?>("--json") { Description = "Write { probabilities, state } as JSON to FILE instead of printing it." };
        var command = new Command("predict", "Predict with a saved model: the next letter of a sequence, or probabilities and final states for raw inputs.")
        {
            model, sequence, inputs, state, json,
        };
        command.SetAction(parse =>
        {
            var letters = parse.GetValue(sequence);
            var inputsFile = parse.GetValue(inputs);
            var stateFile = parse.GetValue(state);
            var jsonFile = parse.GetValue(json);
            if ((letters is null) == (inputsFile is null))
                throw new UsageException("predict needs exactly one of --sequence LETTERS or --inputs FILE");
            if (stateFile is not null && inputsFile is null)
                throw new UsageException("--state goes with --inputs (a --sequence always starts from the zero state)");
            var modelFile = parse.GetValue(model)!;
            OutputRule.Guard([new("--json", jsonFile)], [new("--model", modelFile), new("--inputs", inputsFile), new("--state", stateFile)]);
            if (jsonFile is not null) AtomicFile.EnsureWritableFileTarget(jsonFile, "--json");
            var m = LoadModel(modelFile);

            EncodedInput encoded;
            LstmState initial;
            if (letters is not null)
            {
                try { encoded = m.Encode(m.Vocabulary.SplitText(letters)); }
                catch (ArgumentException e) { throw new FailureException($"--sequence: {e.Message}{Display.WordsHint(m.Vocabulary)}"); }
                initial = LstmState.Zeros(1, m.Parameters.StateUnits);
            }
            else
            {
                try { encoded = PredictionFiles.ParseInputs(m.Input, InputFile.ReadText(inputsFile!, "--inputs")); }
                catch (FileFormatException e) { throw new FailureException($"--inputs '{inputsFile}': {e.Message}"); }
                var batch = encoded.Inputs[0].RowCount;
                if (stateFile is null) initial = LstmState.Zeros(batch, m.Parameters.StateUnits);
                else
                {
                    try { initial = PredictionFiles.ParseState(batch, m.Parameters.Units, m.Parameters.Layers, InputFile.ReadText(stateFile, "--state")); }
                    catch (FileFormatException e) { throw new FailureException($"--state '{stateFile}': {e.Message}"); }
                }
            }
            var p = m.Parameters;
            Safety.CheckMemory($"predict with {encoded.Inputs[0].RowCount} samples of {encoded.Inputs.Length} steps",
                Memory.Prediction(p.Inputs, p.Units, p.Classes, encoded.Inputs[0].RowCount, encoded.Inputs.Length));
            var prediction = Model.Predict(p, initial, encoded.Inputs, encoded.Masking, m.Precision);
            RefuseNonFinite(prediction, letters is not null ? $"--sequence '{letters}'" : $"--inputs '{inputsFile}'{(stateFile is null ? "" : $" with --state '{stateFile}'")}");
            var text = PredictionFiles.SerializePrediction(prediction, p.Layers);
            if (jsonFile is not null)
            {
                AtomicFile.WriteAllText(jsonFile, text);
                stdout.WriteLine($"wrote {Display.Escape(jsonFile)}");
            }
            if (letters is not null) PrintTopThree(m.Vocabulary, letters, prediction, stdout);
            else if (jsonFile is null) stdout.Write(text);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>A prediction or final state that overflowed is an error naming the sample, and nothing is written.</summary>
    private static void RefuseNonFinite(Prediction p, string source)
    {
        foreach (var (name, matrix) in new[] { ("probabilities", p.Probabilities), ("state.h", p.Final.H), ("state.c", p.Final.C) })
        {
            for (var b = 0; b < matrix.RowCount; b++)
                for (var k = 0; k < matrix.ColumnCount; k++)
                    if (!double.IsFinite(matrix[b, k]))
                        throw new FailureException(
                            $"{source}: the {name} of sample {b} (inputs[{b}]) became {matrix[b, k].ToString(Inv)} (the numbers overflowed); nothing was written");
        }
    }

    private static void PrintTopThree(Vocabulary vocabulary, string letters, Prediction p, TextWriter o)
    {
        var row = p.Probabilities.Row(0);
        var top = Enumerable.Range(0, row.Count).OrderByDescending(v => row[v]).ThenBy(v => v).Take(3).ToList();
        o.WriteLine($"{Display.Escape(letters)} -> {Display.Escape(vocabulary[top[0]])}");
        foreach (var v in top)
            o.WriteLine($"  {Display.Escape(vocabulary[v])}  {row[v].ToString("0.0000", Inv)}");
    }

    // ---- generate -----------------------------------------------------------------------------

    private static Command Generate(TextWriter stdout)
    {
        var model = new Option<string>("--model") { Description = "A text model (train --text), or an alphabet model that reads one letter per step (e.g. from train stateful).", Required = true };
        var start = new Option<string>("--start") { Description = "The text to continue (a text model; for a vocabulary of words, the words separated by commas, as predict --sequence takes them), or the first letter A..Z (an alphabet model).", Required = true };
        var steps = Cli.PositiveInt("--steps", "How many symbols to generate.", Limits.MaxSteps);
        steps.Required = true;
        var warmup = new Option<bool>("--warmup") { Description = "Alphabet models: first run the state over the letters before the start letter (A..J for K)." };
        var temperature = TextCommands.TemperatureOption();
        var seed = Cli.WholeNumber("--seed", "Text models: the seed for sampling at a temperature > 0 (default 1).");
        var command = new Command("generate", "Continue a text with a text model, or feed each predicted letter back in from a start letter with an alphabet model.")
        {
            model, start, steps, warmup, temperature, seed,
        };
        command.SetAction(parse =>
        {
            var m = LoadModel(parse.GetValue(model)!);
            var startText = parse.GetValue(start)!;
            if (IsTextModel(m))
            {
                if (parse.GetValue(warmup)) throw new UsageException("--warmup goes with alphabet models; a text model's --start is its warm-up");
                try { return TextCommands.Generate(m, startText, parse.GetValue(steps)!.Value, parse.GetValue(temperature) ?? 0, parse.GetValue(seed) ?? 1, stdout); }
                catch (ArgumentException e) when (e.ParamName is "model")
                {
                    throw new FailureException($"--model '{parse.GetValue(model)}': {Display.WithoutParameter(e.Message)}");
                }
            }
            if (startText.Length != 1 || !Alphabet.Letters.Contains(startText[0]))
                throw new UsageException($"--start expects one letter A..Z, got '{startText}'");
            if (parse.GetValue(temperature) is not null || parse.GetValue(seed) is not null)
                throw new UsageException("--temperature and --seed go with text models; an alphabet model generates the most likely letters");
            if (m.Input.TimeSteps != 1 || m.Input.Features != 1)
                throw new FailureException(
                    $"generate needs a model that reads one letter per call (input 1 time step × 1 feature); '{parse.GetValue(model)}' reads {m.Input.TimeSteps} time steps × {m.Input.Features} features");
            var first = parse.GetValue(start)![0];
            var zeros = LstmState.Zeros(1, m.Parameters.StateUnits);
            var before = Alphabet.Letters[..Alphabet.Index(first)];
            var initial = parse.GetValue(warmup) ? Experiments.WarmUp(m.Parameters, zeros, before, m.Precision) : zeros;
            var how = parse.GetValue(warmup) && before.Length > 0 ? $"after warming the state on {before}" : "from the zero state";
            // Streamed: only the current state is kept, whatever the number of steps.
            // The first letter is made before anything is printed: a model that overflows fails there, printing nothing.
            using var letters = Experiments.GenerateLetters(m.Parameters, initial, first, m.Precision).Take(parse.GetValue(steps)!.Value).GetEnumerator();
            bool any;
            try { any = letters.MoveNext(); }
            catch (ArgumentException e) when (e.ParamName is "p")
            {
                throw new FailureException($"--model '{parse.GetValue(model)}': {Display.WithoutParameter(e.Message)}");
            }
            using var output = StandardOutput.Open(stdout);
            output.Write($"{how}: {first}");
            if (any)
            {
                output.Write($" -> {letters.Current}");
                while (letters.MoveNext()) output.Write($" -> {letters.Current}");
            }
            output.WriteLine();
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// Whether generate continues text with this model (TextRuns.Generate): any model but the
    /// alphabet's index-encoded ones that read one letter per call (today's output) or no plain
    /// window (refused as before); an alphabet model over windows of T &gt; 1 letters continues text.
    /// </summary>
    private static bool IsTextModel(SavedModel m)
    {
        if (m.Input.Encoding == SymbolEncoding.Features) return false;
        if (!m.Vocabulary.IsAlphabet || m.Input.Encoding != SymbolEncoding.Index || m.Input.Reading == Reading.Stream) return true;
        return m.Input is { PrePadded: false, TimeSteps: > 1 } && m.SymbolsPerStep == 1;
    }

    // ---- files --------------------------------------------------------------------------------

    /// <summary>Reads and checks a model file, or fails with one line naming the file and the problem.</summary>
    public static SavedModel LoadModel(string path)
    {
        if (!SavedModel.TryParse(InputFile.ReadText(path, "--model"), out var model, out var error))
            throw new FailureException($"--model '{path}': {error}");
        return model;
    }
}
