// alphabet-lstm: the command-line shell around AlphabetLstm.Core.
return AlphabetLstm.Cli.Cli.Run(args, Console.Out, Console.Error);
